"""SliceViewer: before/after pictures, slider, presets, SUV, outlines, series it cannot show."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import HTJ2KLossless

from support import Curated
from workbench.widgets import SliceViewer
from workbench.widgets.images import OUTLINE, SeriesFrames, changed_regions

from .conftest import ct_file, decode


def test_ct_before_and_after_side_by_side(curated: Curated):
    ct = curated.series("CT")
    viewer = SliceViewer.from_pairs(curated.pairs, ct["series_uid"].iloc[0], size=256)
    assert viewer.slider.max == len(ct) - 1
    assert viewer.preset.value == "CT soft tissue"
    before, after = decode(viewer.before_image.value), decode(viewer.after_image.value)
    assert before.size == after.size == (256, 256)
    assert np.array_equal(np.asarray(before), np.asarray(after))  # pixels copied, not changed
    assert "HU" in viewer.before_caption.value and "pixels unchanged" in \
        viewer.after_caption.value
    assert viewer.regions == [] and viewer.message.value == ""
    shown = viewer.before_image.value
    viewer.preset.value = "CT lung"
    assert viewer.before_image.value != shown
    viewer.slider.value = 3
    moved = decode(viewer.before_image.value)
    assert np.asarray(moved).tolist() != np.asarray(before).tolist()


def test_slices_follow_instance_numbers(curated: Curated):
    ct = curated.series("CT")
    shuffled = ct.sample(frac=1, random_state=1)
    frames = SeriesFrames(list(shuffled["source"]))
    numbers = [int(dcmread(f, stop_before_pixels=True).InstanceNumber) for f in frames.files]
    assert numbers == sorted(numbers)
    viewer = SliceViewer(list(shuffled["source"]), list(shuffled["output"]))
    assert [Path(f).name for f in viewer.after.files] == \
        [Path(f).name for f in ct.sort_values("instance_number")["output"]]


def test_pet_is_shown_in_suv(curated: Curated):
    pet = curated.series("PT", "PET")
    viewer = SliceViewer.from_pairs(curated.pairs, pet["series_uid"].iloc[0])
    assert viewer.preset.value == "PET SUV 0-10"
    assert "SUV" in viewer.before_caption.value and "SUV" in viewer.after_caption.value
    ds = dcmread(pet["source"].iloc[0])
    frame = viewer.before.frame(0)
    expected = ds.pixel_array * float(ds.RescaleSlope) * curated.planted.patients[0][
        "suv_bw_factor"]
    assert np.allclose(frame.values, expected, rtol=1e-4)


def test_pet_without_suv_inputs_says_why(curated: Curated, tmp_path: Path):
    src = curated.series("PT", "PET")["output"].iloc[0]
    damaged = tmp_path / "pet.dcm"
    ds = dcmread(src)
    del ds.PatientWeight
    ds.save_as(damaged)
    viewer = SliceViewer([damaged])
    assert "Bq/ml" in viewer.before_caption.value
    assert "PatientWeight is missing" in viewer.before_caption.value
    assert not any("SUV" in option for option in viewer.preset.options)


def test_changed_pixel_regions_are_outlined(tmp_path: Path):
    pixels = np.full((64, 64), 40, dtype=np.int16)
    pixels[20:40, 20:40] = 300
    cleaned = pixels.copy()
    cleaned[4:12, 30:60] = -1000  # a burned-in label blanked
    before = ct_file(tmp_path / "before.dcm", pixels)
    after = ct_file(tmp_path / "after.dcm", cleaned)
    viewer = SliceViewer([before], [after], size=64)
    assert viewer.regions == [(4, 30, 12, 60)]
    picture = np.asarray(decode(viewer.after_image.value))
    red = np.all(picture == OUTLINE, axis=2)
    assert red[3, 29:61].all() and red[3:13, 29].all()
    assert not red[20:40, 20:40].any()
    viewer.outline.value = False
    assert not np.all(np.asarray(decode(viewer.after_image.value)) == OUTLINE, axis=2).any()
    assert "1 changed region" in viewer.after_caption.value


def test_changed_regions_join_neighbours_and_separate_islands():
    a = np.zeros((100, 100))
    b = a.copy()
    b[10:14, 10:50] = 1  # one text line spanning several blocks
    b[80:90, 80:85] = 1
    assert changed_regions(a, b) == [(10, 10, 14, 50), (80, 80, 90, 85)]
    assert changed_regions(a, a) == []
    assert changed_regions(a, np.zeros((50, 50))) == [(0, 0, 50, 50)]


def test_multi_frame_files_give_a_slice_per_frame(tmp_path: Path):
    frames = np.stack([np.full((32, 32), 100 * k, dtype=np.int16) for k in range(4)])
    path = ct_file(tmp_path / "mf.dcm", frames, frames=4)
    viewer = SliceViewer([path], preset="auto (1-99 %)")
    assert viewer.slider.max == 3
    means = []
    for k in range(4):
        viewer.slider.value = k
        means.append(viewer.before.frame(k).values.mean())
    assert means == [0, 100, 200, 300]


def test_monochrome1_shows_low_values_bright(tmp_path: Path):
    pixels = np.zeros((32, 32), dtype=np.int16)
    pixels[:, 16:] = 1000
    path = ct_file(tmp_path / "m1.dcm", pixels, photometric="MONOCHROME1")
    viewer = SliceViewer([path], preset="auto (1-99 %)", size=32)
    grey = np.asarray(decode(viewer.before_image.value))[:, :, 0]
    assert grey[:, :16].min() == 255 and grey[:, 16:].max() == 0
    assert viewer.before.frame(0).values.max() == 1000  # values stay physical


def test_rt_dose_frames_from_the_delivery(curated: Curated):
    dose = curated.pairs[curated.pairs["modality"] == "RTDOSE"]
    viewer = SliceViewer(list(dose["source"].iloc[:1]))
    assert viewer.slider.max == int(dcmread(dose["source"].iloc[0]).NumberOfFrames) - 1
    assert viewer.message.value == "" and viewer.before_image.value


@pytest.mark.parametrize("modality, reason", [
    ("SR", "structured report"), ("DOC", "encapsulated PDF document"),
    ("RTSTRUCT", "no pixel data"), ("RTPLAN", "no pixel data")])
def test_series_without_pixels_get_a_message(curated: Curated, modality: str, reason: str):
    rows = curated.pairs[curated.pairs["modality"] == modality]
    viewer = SliceViewer.from_pairs(curated.pairs, rows["series_uid"].iloc[0])
    assert "cannot be shown" in viewer.message.value and reason in viewer.message.value
    assert viewer.slider.disabled
    # a picture saying why, never an empty image (a broken-image icon in the browser)
    assert decode(viewer.before_image.value).size == (384, 384)


def test_missing_codec_gets_a_message(tmp_path: Path):
    path = ct_file(tmp_path / "htj2k.dcm", np.zeros((16, 16)), syntax=HTJ2KLossless)
    viewer = SliceViewer([path])
    assert "cannot decode the pixel data" in viewer.message.value
    assert "High-Throughput JPEG 2000" in viewer.message.value
    assert decode(viewer.before_image.value).size == (384, 384)  # the reason, drawn


def test_quarantined_output_is_shown_and_missing_output_explained(curated: Curated):
    capture = curated.pairs[curated.pairs["state"] == "quarantined"].iloc[:1]
    viewer = SliceViewer(list(capture["source"]), list(capture["output"]))
    assert viewer.after_image.value and viewer.message.value == ""
    mr = curated.series("MR")
    viewer = SliceViewer(list(mr["source"]), [None] * len(mr))
    assert viewer.before_image.value
    assert "no output file" in viewer.after_caption.value
    viewer = SliceViewer.from_pairs(curated.pairs, mr["series_uid"].iloc[0])
    assert "no output: skipped: modality MR not selected" in viewer.after_caption.value


def test_damaged_pixel_data_gets_a_message(tmp_path: Path):
    whole = Path(ct_file(tmp_path / "whole.dcm", np.ones((64, 64))))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(whole.read_bytes()[:-2000])
    viewer = SliceViewer([cut])
    assert "the file looks damaged" in viewer.message.value


def test_misaligned_lists_are_refused(curated: Curated):
    ct = curated.series("CT")
    with pytest.raises(ValueError, match="aligned"):
        SliceViewer(list(ct["source"]), list(ct["output"])[:-1])

