"""The catalog: what a folder holds, read from headers, on files from other projects too."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_files

from workbench.catalog import Instance, files_under, scan, series_table
from workbench.errors import WorkbenchError


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p: (os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in files_under(folder)}


def test_every_file_of_pydicoms_test_data_is_taken_or_skipped_with_a_reason(tmp_path):
    folder = tmp_path / "pydicom"
    folder.mkdir()
    for i, path in enumerate(p for p in get_testdata_files() if os.path.isfile(p)):
        shutil.copy(path, folder / f"{i:03d}_{Path(path).name}")
    instances, skipped = scan(folder)
    assert len(instances) + len(skipped) == len(list(files_under(folder)))
    assert all(s.reason and s.kind in {"not-dicom", "dicomdir", "unreadable", "not-a-file"}
               for s in skipped)
    assert {s.kind for s in skipped if "DICOMDIR" in s.path.upper()} <= {"dicomdir"}
    for i in instances[:40]:  # the catalog's reading agrees with pydicom's
        ds = pydicom.dcmread(i.path, stop_before_pixels=True, force=True)
        assert i.sop_uid == str(ds.get("SOPInstanceUID", "")) and \
            i.modality == str(ds.get("Modality", ""))


def test_bad_files_are_skipped_with_their_problem_and_the_source_is_untouched(bad_delivery):
    before = _snapshot(bad_delivery.delivery)
    instances, skipped = scan(bad_delivery.delivery)
    assert _snapshot(bad_delivery.delivery) == before
    kinds = {os.path.relpath(s.path, bad_delivery.delivery): s.kind for s in skipped}
    for bad in bad_delivery.bad_files:
        if bad["problem"] == "not_dicom":
            assert kinds.get(bad["path"]) == "not-dicom"
        elif bad["problem"] == "dicomdir":
            assert kinds.get(bad["path"]) == "dicomdir"
    assert all(isinstance(i, Instance) and i.study_uid and i.series_uid for i in instances)


def test_the_series_table_counts_every_instance_of_every_series(example_delivery):
    instances, _ = scan(example_delivery.delivery)
    table = series_table(instances)
    counts = Counter(i.series_uid for i in instances)
    assert dict(zip(table["series_uid"], table["instances"])) == dict(counts)
    assert set(table["modality"]) >= {"CT", "PT"}


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(WorkbenchError, match="no such file or folder"):
        scan(tmp_path / "nothing here")


@pytest.mark.parametrize("cut", [0, 10, 131, 300])
def test_a_file_cut_short_is_skipped_or_taken_never_a_crash(tmp_path, cut):
    source = get_testdata_files("CT_small.dcm")[0]
    (tmp_path / "cut.dcm").write_bytes(Path(source).read_bytes()[:cut])
    instances, skipped = scan(tmp_path)
    assert len(instances) + len(skipped) == 1
    assert all(s.reason for s in skipped)
