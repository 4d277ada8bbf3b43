"""Scale-out batches on Ray Data: the serial batch's removal over a cluster, resumable.

    from rembg_core.distributed import JobSpec, run_job
    summary = run_job(["photos/"], JobSpec(out="cutouts/"))   # a local Ray cluster by default

Importable without Ray; running a job without it raises RayUnavailableError with the install line.
See docs/DISTRIBUTED.md.
"""

from .cluster import RayUnavailableError, ray_available
from .job import LEAN_CONFIG, JobError, JobSpec, JobSummary, Plan, plan, run_job
from .manifest import MANIFEST_NAME, ManifestRow
from .sources import Source, expand

__all__ = ["LEAN_CONFIG", "MANIFEST_NAME", "JobError", "JobSpec", "JobSummary", "ManifestRow", "Plan",
           "RayUnavailableError", "Source", "expand", "plan", "ray_available", "run_job"]
