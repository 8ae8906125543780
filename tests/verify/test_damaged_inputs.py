"""Damaged inputs are quarantined with a reason, never released as verified."""
from __future__ import annotations

import json

from pydicom.data import get_testdata_file

from workbench.cli import main


def test_rle_image_cut_short_inside_its_pixel_data_is_quarantined(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    data = open(get_testdata_file("MR_small_RLE.dcm"), "rb").read()
    (src / "cut.dcm").write_bytes(data[:6000])
    out = tmp_path / "out"
    code = main(["deid", str(src), str(out), "--profile", "ps315-basic",
                 "--store", str(tmp_path / "state.sqlite")])
    assert code == 2
    assert not [p for p in out.rglob("*") if p.is_file()]
    reasons = [json.loads(line) for line in
               (tmp_path / "out.quarantine" / "reasons.jsonl").read_text().splitlines()]
    assert [r["source"].endswith("cut.dcm") for r in reasons] == [True]
    assert "file truncated" in reasons[0]["reason"]  # the catalog sees it first
