"""The lean distinct-value scan gives the same table as the flatten-based one."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest
from pydicom.data import get_testdata_files

from support import Curated
from workbench.errors import ReviewError
from workbench.review import (PHI_COLUMNS, UNREADABLE, distinct_values, flatten, normalise,
                              value_text)
from workbench.review.dicom import PIXEL_KEYWORDS, _read
from workbench.review.phi import _scan_chunk



def flattened_values(files, indexed: bool = False) -> pd.DataFrame:
    """The scan as it was made before: flatten every file, count each value once a file."""
    counts, info = Counter(), {}
    for path in files:
        try:
            elements = flatten(_read(path)).values()
        except ReviewError as exc:
            counts[(UNREADABLE, str(exc))] += 1
            info.setdefault(UNREADABLE, ("", ""))
            continue
        seen = set()
        for e in elements:
            if e.vr == "SQ" or e.keyword in PIXEL_KEYWORDS or not e.value or \
                    (e.value.startswith("<") and e.value.endswith(" bytes>")):
                continue
            name = e.path if indexed else normalise(e.path)
            seen.add((name, e.value))
            info.setdefault(name, (e.keyword, e.vr))
        counts.update(seen)
    rows = [(name, *info[name], value, n) for (name, value), n in counts.items()]
    table = pd.DataFrame(rows, columns=[*PHI_COLUMNS, "files"])
    return table.sort_values(["attribute", "value"], ignore_index=True)


@pytest.mark.parametrize("indexed", [False, True])
def test_same_as_flatten_on_the_example_delivery(curated: Curated, indexed):
    files = [*curated.pairs["source"], *curated.pairs["output"].dropna()]
    pd.testing.assert_frame_equal(distinct_values(files, indexed=indexed, progress=False),
                                  flattened_values(files, indexed))


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("indexed", [False, True])
def test_same_as_flatten_on_pydicom_test_files(indexed):
    files = get_testdata_files()
    assert len(files) > 100
    pd.testing.assert_frame_equal(distinct_values(files, indexed=indexed, progress=False),
                                  flattened_values(files, indexed))


def test_workers_count_as_one_reader(curated: Curated):
    files = list(curated.pairs["source"])
    counts, info = _scan_chunk(files, False)
    expected = flattened_values(files)
    assert sum(counts.values()) == expected["files"].sum()
    assert set(info) == set(expected["attribute"])


def test_pool_over_many_files(curated: Curated, monkeypatch):
    from workbench.review import phi

    files = list(curated.pairs["source"]) * 3
    monkeypatch.setattr(phi, "POOL_FILES", 10)
    monkeypatch.setattr(phi, "CHUNK_FILES", 7)
    pd.testing.assert_frame_equal(distinct_values(files, progress=False),
                                  flattened_values(files))


RAW = [b"12", b"12 ", b" 12", b"+12", b"0012", b"-7", b"1.50", b"1e3", b"-0.0", b".5", b"1.",
       b"1.5\\2.5", b"1.5 \\ 2.5", b"20240101", b"101010.123 ", b"1\0", b"", b" ", b"abc",
       b"A^B ", b"A\\B", b"1.2.840.10008.1.2\0", b"\x1b$B", b"caf\xe9", b"12\\", b"1 2"]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("vr", ["IS", "DS", "DA", "TM", "DT", "AS", "CS", "LO", "PN", "SH",
                                "UI", "LT", "ST", "UT", "UC"])
def test_plain_values_decode_as_pydicom_does(vr):
    from pydicom.dataelem import RawDataElement, convert_raw_data_element

    from workbench.review.values import _plain

    for raw in RAW:
        text = _plain(vr.encode(), raw)
        if text is not None:
            elem = convert_raw_data_element(RawDataElement(0x00091010, vr, len(raw), raw, 0,
                                                           False, True))
            assert text == value_text(elem), (vr, raw)
