"""workbench: DICOM curation for imaging core labs.

Catalog folders of DICOM, de-identify them with declarative profiles
(DICOM PS3.15 Annex E plus per-trial rules), verify every output
independently, review the changes, and push to XNAT.
"""

__version__ = "0.1.0"
