"""The int8 u2netp: built here from the verified float model (build), calibrated on bundled photos
(calibration), bias-corrected (bias), and measured against the float model on held-out photos (quality)."""
