"""A bounded loopback load generator (generator.py), results as data (results.py), process-tree memory (tree.py)."""

from .generator import LoadRun, LoadSpec, run_load
from .results import LoadResult, RequestSample

__all__ = ["LoadResult", "LoadRun", "LoadSpec", "RequestSample", "run_load"]
