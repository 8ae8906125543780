"""How much ordinary text the scrub changes: descriptive values of pydicom's and
pydicom-data's files, scrubbed with each file's own identifiers.

Prints, per corpus, the descriptive values read, how many the scrub would change,
and each change (value before and after), so a reviewer can judge which are real
identifiers (a test file's patient named "Perfusion" shows up in its descriptions)
and which are ordinary words wrecked.

    python bench/scrub_false_positives.py
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
from pydicom import dcmread

from workbench.deid.engine import _scrubber, identifying_strings

KEYWORDS = ("StudyDescription", "SeriesDescription", "ProtocolName", "ImageComments",
            "CodeMeaning", "BodyPartExamined", "PerformedProcedureStepDescription",
            "RequestedProcedureDescription", "ReasonForStudy", "ContentLabel",
            "ContentDescription", "StructureSetLabel", "ROIName", "DerivationDescription")


def corpora():
    import data_store

    yield "pydicom", Path(pydicom.__file__).parent / "data" / "test_files"
    yield "pydicom-data", Path(data_store.__file__).parent / "data"


def main() -> None:
    for name, root in corpora():
        read = changed = 0
        changes = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    ds = dcmread(path, stop_before_pixels=True)
                    pairs = tuple((s, "SUBJ") for s in identifying_strings(ds))
                    elems = [e for e in ds.iterall() if e.keyword in KEYWORDS]
                except Exception:
                    continue
            rx, table = _scrubber(pairs)
            for elem in elems:
                for value in elem.value if elem.VM > 1 else [elem.value]:
                    text = str(value or "")
                    if not text:
                        continue
                    read += 1
                    if rx is not None:
                        new = rx.sub(lambda m: table.get(m[0].casefold(), ""), text)
                        if new != text:
                            changed += 1
                            changes.append(f"  {path.name}: {elem.keyword} {text!r} -> {new!r}")
        print(f"{name}: {read} descriptive values, {changed} changed by the scrub")
        print("\n".join(changes))


if __name__ == "__main__":
    main()
