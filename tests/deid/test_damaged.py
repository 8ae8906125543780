"""Native pixel data is checked against the length its attributes promise.

A file whose pixel data is shorter is quarantined with the reason; 1-bit and
YBR_FULL_422 data have their own lengths and are released whole.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from workbench.deid.run import deidentify_delivery
from workbench.store import Store


def _run(tmp_path: Path, *files: Path):
    src = tmp_path / "src"
    src.mkdir()
    for f in files:
        shutil.copy(f, src / Path(f).name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return deidentify_delivery(src, tmp_path / "out", "ps315-basic",
                                   store=Store(tmp_path / "s.db"), progress=False)


@pytest.mark.parametrize("name", ["SC_ybr_full_422_uncompressed.dcm", "liver_1frame.dcm"])
def test_packed_and_subsampled_pixel_data_of_full_length_is_released(tmp_path, name):
    report = _run(tmp_path, get_testdata_file(name))
    (outcome,) = report.outcomes  # a secondary capture still waits for pixel review
    assert outcome.state == "written" or outcome.reason.startswith("needs pixel review"), \
        outcome.reason


def test_pixel_data_whose_length_is_one_byte_short_is_quarantined(tmp_path):
    data = bytearray(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    at = data.rfind(b"\xe0\x7f\x10\x00OW") + 8  # explicit VR: tag, VR, reserved, length
    length = int.from_bytes(data[at:at + 4], "little")
    data[at:at + 4] = (length - 1).to_bytes(4, "little")
    victim = tmp_path / "CT_short.dcm"
    victim.write_bytes(bytes(data))  # the file keeps its size: only the length is wrong
    report = _run(tmp_path, victim)
    assert not [o for o in report.outcomes if o.state == "written"]
    assert "the pixel data lacks 1 bytes" in report.quarantined[0].reason
