"""The test suite: a package, so its helpers (conftest, browser_support, ray_support, hostile) are
imported one way only, as tests.<name>."""
