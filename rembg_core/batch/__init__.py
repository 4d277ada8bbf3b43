"""Batches with bounded memory: inputs (files, folders, uploads, zips), the engine, outputs, the result cache."""

from ..options import RemoveOptions
from .cache import ResultCache
from .engine import Gauge, ItemResult, Progress, run_batch
from .inputs import BatchInput, BatchItem, BatchLimitError, BatchLimits, NestedArchiveError, collect, items_from_zip
from .outputs import fresh_zip_path, zip_writer

__all__ = [
    "BatchInput", "BatchItem", "BatchLimitError", "BatchLimits", "Gauge", "ItemResult", "NestedArchiveError",
    "Progress", "RemoveOptions", "ResultCache", "collect", "fresh_zip_path", "items_from_zip", "run_batch",
    "zip_writer",
]
