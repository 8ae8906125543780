"""Repeatable batch runs per trial: resumable, parallel, on a process pool or Dask.

A batch surveys a delivery (catalog and SHA-256 of every file), decides per
study whether to do, redo, skip or hold it, de-identifies the studies to do
through :func:`workbench.deid.run.deidentify_delivery` on any
``concurrent.futures`` executor, records each study in the site's store as soon
as it is finished, pushes verified studies once, and writes a run record free of
patient identity. ``workbench batch`` runs ``notebooks/20_batch_trial.ipynb``
with papermill around :func:`run_batch`.
"""

from .executors import BatchError
from .record import StudyRow
from .runner import BatchResult, run_batch
from .settings import DESTINATIONS, BatchSettings, example_settings

__all__ = ["DESTINATIONS", "BatchError", "BatchResult", "BatchSettings", "StudyRow",
           "example_settings", "run_batch"]
