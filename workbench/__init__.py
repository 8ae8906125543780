"""workbench: DICOM curation for imaging core labs.

Catalog folders of DICOM, de-identify them with declarative profiles
(DICOM PS3.15 Annex E plus per-trial rules), verify every output
independently, review the changes, approve, and push to XNAT.

The public API is this package's top level, loaded on first use (``import workbench``
stays quick and imports nothing else)::

    from workbench import scan, load_profile, deidentify, verify_delivery, push_studies
    from workbench import CurationApp, StudyBrowser, SliceViewer, review

``verify`` and ``push`` name subpackages (the verifier, the destinations), so the
functions are ``verify_delivery`` and ``push_studies``.
"""

from importlib import import_module

__version__ = "0.1.0"

#: Public name -> (module, attribute); None: the module itself.
_API = {
    "scan": ("catalog", "scan"), "to_frame": ("catalog", "to_frame"),
    "load_profile": ("profile", "load_profile"), "Store": ("store", "Store"),
    "deidentify": ("deid.run", "deidentify_delivery"),
    "verify_delivery": ("verify_delivery", "verify_delivery"),
    "check_protocol": ("protocol", "check"),
    "study_states": ("approval", "study_states"), "states_table": ("approval", "states_table"),
    "sign": ("approval", "sign"), "APPROVED": ("approval", "APPROVED"),
    "REJECTED": ("approval", "REJECTED"),
    "push_studies": ("push", "push_studies"), "server_listing": ("push.listing", "server_listing"),
    "generate_examples": ("examples", "generate"), "Planted": ("examples", "Planted"),
    "SandboxServer": ("sandbox", "SandboxServer"),
    "BatchSettings": ("batch", "BatchSettings"), "run_batch": ("batch", "run_batch"),
    "example_settings": ("batch", "example_settings"),
    "review": ("review", None), "widgets": ("widgets", None),
    **{name: ("widgets", name) for name in (
        "CurationApp", "StudyBrowser", "SliceViewer", "ContactSheet", "PhiScanView",
        "PushPanel", "SignOffForm", "TagDiffView", "QCFlags", "SubjectIDs")},
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    try:
        module, attribute = _API[name]
    except KeyError:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}") from None
    found = import_module(f".{module}", __name__)
    value = found if attribute is None else getattr(found, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
