"""Repeatable batch runs per trial: resumable, parallel, on a process pool or Dask.

A batch surveys a delivery (catalog and SHA-256 of every file), decides per
study whether to do, redo, skip or hold it, de-identifies the studies to do
through :func:`workbench.deid.run.deidentify_delivery` on any
``concurrent.futures`` executor, records each study in the site's store as soon
as it is finished, pushes verified studies once, and writes a run record free of
patient identity. ``workbench batch`` runs ``notebooks/20_batch_trial.ipynb``
with papermill around :func:`run_batch`.
"""

from importlib import import_module

#: Where each public name lives. They are imported when first used, so a worker
#: that unpickles a batch task imports what the task needs (not pandas).
_EXPORTS = {"BatchError": "workbench.errors", "StudyRow": "record", "BatchResult": "runner",
            "run_batch": "runner", "DESTINATIONS": "settings", "BatchSettings": "settings",
            "example_settings": "settings"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _EXPORTS[name]
    return getattr(import_module(module if module.startswith("workbench.") else f".{module}",
                                 __name__), name)
