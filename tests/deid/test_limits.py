"""Headers past the catalog's limits, and data cut short, are unreadable with the reason.

Adversarial files are built here, from a small valid header and bytes
appended to it: deep or long sequences, sequences never closed, compressed
pixel data cut inside a fragment or never closed. Padding after native pixel
data is kept and logged.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import warnings
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from workbench.catalog import HeaderLimits, Instance, Skipped, read_header
from workbench.cli import main

ITEM = b"\xfe\xff\x00\xe0"
ITEM_END = b"\xfe\xff\x0d\xe0\0\0\0\0"
SEQUENCE_END = b"\xfe\xff\xdd\xe0\0\0\0\0"
UNDEFINED = b"\xff\xff\xff\xff"
CONTENT_SEQUENCE = b"\x40\x00\x30\xa7SQ\0\0"  # (0040,A730), after every element of _dataset
CODE_VALUE = b"\x08\x00\x00\x01SH\x02\x001 "  # (0008,0100), inside an item


def _dataset() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID = "P1"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _bytes(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _sequence(body: bytes, closed: bool = True) -> bytes:
    """ContentSequence of undefined length holding ``body``."""
    return CONTENT_SEQUENCE + UNDEFINED + body + (SEQUENCE_END if closed else b"")


def _defined_sequence(body: bytes) -> bytes:
    return CONTENT_SEQUENCE + len(body).to_bytes(4, "little") + body


def _items(n: int) -> bytes:
    """``n`` items of undefined length, each with one element."""
    return (ITEM + UNDEFINED + CODE_VALUE + ITEM_END) * n


def _nested(depth: int) -> Dataset:
    ds = _dataset()
    inner = Dataset()
    inner.CodeValue = "1"
    for _ in range(depth - 1):
        outer = Dataset()
        outer.ContentSequence = Sequence([inner])
        inner = outer
    ds.ContentSequence = Sequence([inner])
    return ds


def _refused(rec, *words: str) -> str:
    assert isinstance(rec, Skipped) and rec.kind == "unreadable", rec
    for word in words:
        assert word in rec.reason, rec.reason
    return rec.reason


def test_limits_have_the_documented_defaults_and_are_frozen():
    limits = HeaderLimits()
    assert (limits.max_header_bytes, limits.max_items, limits.max_depth) == (256 << 20,
                                                                             2_000_000, 64)
    with pytest.raises(AttributeError):
        limits.max_items = 1  # type: ignore[misc]


def test_sequences_nested_70_deep_are_refused_and_64_deep_are_cataloged(tmp_path):
    deep = _file(tmp_path, "deep.dcm", _bytes(_nested(70)))
    reason = _refused(read_header(deep), "header too large", "nested more than 64 deep",
                      "(limit 64)", "WORKBENCH_MAX_DEPTH")
    assert "ask the sender" in reason
    assert isinstance(read_header(_file(tmp_path, "ok.dcm", _bytes(_nested(64)))), Instance)


def test_nesting_of_undefined_length_is_counted_too(tmp_path):
    body = b""
    for _ in range(10):
        body = _sequence(ITEM + UNDEFINED + body + ITEM_END)
    path = _file(tmp_path, "deep.dcm", _bytes(_dataset()) + body)
    assert isinstance(read_header(path), Instance)
    _refused(read_header(path, HeaderLimits(max_depth=9)), "nested more than 9 deep")


@pytest.mark.parametrize("undefined", [True, False])
def test_more_items_than_the_limit_are_refused(tmp_path, undefined):
    body = _items(101) if undefined else (ITEM + b"\0\0\0\0") * 101
    seq = _sequence(body) if undefined else _defined_sequence(body)
    path = _file(tmp_path, "many.dcm", _bytes(_dataset()) + seq)
    _refused(read_header(path, HeaderLimits(max_items=100)), "header too large",
             "more than 100 sequence items (limit 100)", "WORKBENCH_MAX_ITEMS")
    assert isinstance(read_header(path, HeaderLimits(max_items=101)), Instance)
    assert isinstance(read_header(path), Instance)


def test_items_are_counted_across_depths(tmp_path):
    body = _sequence(ITEM + UNDEFINED + _sequence(_items(60)) + ITEM_END
                     + ITEM + UNDEFINED + _sequence(_items(60)) + ITEM_END)
    path = _file(tmp_path, "spread.dcm", _bytes(_dataset()) + body)
    _refused(read_header(path, HeaderLimits(max_items=100)), "more than 100 sequence items")


def test_a_sequence_written_as_un_is_walked_as_implicit_vr_and_the_walk_goes_on(tmp_path):
    creator = b"\x39\x00\x10\x00LO\x08\x00CREATOR "
    implicit_item = ITEM + UNDEFINED + b"\x08\x00\x00\x01\x02\x00\x00\x001 " + ITEM_END
    un = b"\x39\x00\x10\x10UN\0\0" + UNDEFINED + implicit_item + SEQUENCE_END
    path = _file(tmp_path, "un.dcm", _bytes(_dataset()) + creator + un + _sequence(_items(100)))
    _refused(read_header(path, HeaderLimits(max_items=100)), "more than 100 sequence items")
    assert isinstance(read_header(path, HeaderLimits(max_items=101)), Instance)


def test_limits_are_read_from_the_environment_at_each_call(tmp_path, monkeypatch):
    path = _file(tmp_path, "many.dcm", _bytes(_dataset()) + _sequence(_items(101)))
    assert isinstance(read_header(path), Instance)
    monkeypatch.setenv("WORKBENCH_MAX_ITEMS", "100")
    _refused(read_header(path), "more than 100 sequence items (limit 100)")
    monkeypatch.setenv("WORKBENCH_MAX_ITEMS", "101")
    assert isinstance(read_header(path), Instance)
    monkeypatch.setenv("WORKBENCH_MAX_DEPTH", "0")
    _refused(read_header(path), "WORKBENCH_MAX_DEPTH='0' is not a positive whole number")


def test_a_header_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    ds = _dataset()
    ds.add_new(0x00091010, "OB", b"\0" * 100_000)
    ds.add_new(0x00090010, "LO", "CREATOR")
    path = _file(tmp_path, "big.dcm", _bytes(ds))
    assert isinstance(read_header(path), Instance)
    monkeypatch.setenv("WORKBENCH_MAX_HEADER_MB", "0.05")  # 52,428 bytes
    _refused(read_header(path), "header too large", "bytes before the pixel data",
             "(limit 52,428 bytes)", "WORKBENCH_MAX_HEADER_MB")


def test_two_million_and_one_empty_items_break_the_default_limit(tmp_path):
    n = 2_000_001
    data = _bytes(_dataset()) + _defined_sequence((ITEM + b"\0\0\0\0") * n)
    path = _file(tmp_path, "flood.dcm", data)
    _refused(read_header(path), "more than 2,000,000 sequence items (limit 2,000,000)")


@pytest.mark.parametrize("big", [False, True])
def test_a_sequence_never_closed_is_unreadable(tmp_path, big):
    filler = b"\x08\x00\x04\x01LT" + (60_000).to_bytes(2, "little") + b" " * 60_000 if big else b""
    body = _sequence(ITEM + UNDEFINED + CODE_VALUE + filler + ITEM_END + ITEM + UNDEFINED
                     + CODE_VALUE + filler * 2, closed=False)
    path = _file(tmp_path, "open.dcm", _bytes(_dataset()) + body)
    reason = _refused(read_header(path), "file truncated", "(0040,A730)",
                      "never closed before the end of the file", "copy the file again")
    assert "Traceback" not in reason


def test_an_item_never_closed_is_unreadable(tmp_path):
    body = CONTENT_SEQUENCE + UNDEFINED + ITEM + UNDEFINED + CODE_VALUE
    path = _file(tmp_path, "open.dcm", _bytes(_dataset()) + body)
    _refused(read_header(path), "file truncated", "never closed", "copy the file again")


def _rle() -> bytes:
    return Path(get_testdata_file("MR_small_RLE.dcm")).read_bytes()


def _delimiter(data: bytes) -> int:
    return data.rindex(SEQUENCE_END[:4])


def test_intact_compressed_files_are_cataloged():
    for name in ("MR_small_RLE.dcm", "emri_small_RLE.dcm", "JPEG-lossy.dcm",
                 "SC_rgb_jpeg_dcmtk.dcm", "JPEG2000.dcm"):
        assert isinstance(read_header(get_testdata_file(name)), Instance), name


def test_rle_cut_to_6000_bytes_is_truncated_inside_a_fragment(tmp_path):
    path = _file(tmp_path, "cut.dcm", _rle()[:6000])
    _refused(read_header(path), "file truncated: the compressed pixel data ends inside "
             "fragment 1; copy the file again from the original media")


def test_rle_cut_in_its_last_fragment_is_truncated(tmp_path):
    data = _rle()
    path = _file(tmp_path, "cut.dcm", data[:_delimiter(data) - 100])
    _refused(read_header(path), "ends inside fragment 1")


def test_rle_without_its_final_delimiter_is_never_closed(tmp_path):
    data = _rle()
    path = _file(tmp_path, "open.dcm", data[:_delimiter(data)])
    _refused(read_header(path), "file truncated: the compressed pixel data is never closed",
             "after fragment 1", "copy the file again")


def test_rle_with_its_delimiter_cut_out_is_damaged(tmp_path):
    data = _rle()  # the data set padding after the pixel data is met instead
    at = _delimiter(data)
    path = _file(tmp_path, "gap.dcm", data[:at] + data[at + 8:])
    _refused(read_header(path), "pixel data damaged", "(FFFC,FFFC)", "copy the file again")


def test_jpeg_cut_inside_its_fragment_is_truncated(tmp_path):
    data = Path(get_testdata_file("JPEG-lossy.dcm")).read_bytes()
    path = _file(tmp_path, "cut.dcm", data[:_delimiter(data) - 500])
    _refused(read_header(path), "ends inside fragment 1", "copy the file again")


def test_fewer_fragments_than_frames_is_truncated(tmp_path):
    data = Path(get_testdata_file("emri_small_RLE.dcm")).read_bytes()  # 10 frames, 10 fragments
    last = data.rindex(ITEM, 0, _delimiter(data))
    path = _file(tmp_path, "nine.dcm", data[:last] + data[_delimiter(data):])
    _refused(read_header(path), "holds 9 fragments for 10 frames", "copy the file again")


def test_a_compressed_header_cut_short_is_truncated(tmp_path):
    data = Path(get_testdata_file("JPEG2000.dcm")).read_bytes()
    path = _file(tmp_path, "cut.dcm", data[:len(data) * 3 // 4])  # inside the header
    _refused(read_header(path), "file truncated: the file ends inside its header")


def _native(tmp_path: Path, name: str, rows: int, columns: int, pad: int) -> str:
    ds = _dataset()
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = rows, columns, 8, 8, 7
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = b"\x01" * (rows * columns + pad)
    return _file(tmp_path, name, _bytes(ds))


def test_pixel_data_longer_than_promised_is_kept_and_logged(tmp_path, caplog):
    path = _native(tmp_path, "padded.dcm", 4, 4, 16)
    with caplog.at_level(logging.WARNING, logger="workbench"):
        assert isinstance(read_header(path), Instance)
    assert "16 bytes more than" in caplog.text and "padded.dcm" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="workbench"):
        assert isinstance(read_header(get_testdata_file("MR_small_padded.dcm")), Instance)
    assert "bytes more than" in caplog.text


def test_one_byte_padding_an_odd_length_is_not_even_logged(tmp_path, caplog):
    path = _native(tmp_path, "odd.dcm", 3, 3, 0)  # 9 bytes, written as 10
    assert Path(path).read_bytes()[-10:] == b"\x01" * 9 + b"\0"
    with caplog.at_level(logging.DEBUG, logger="workbench"):
        assert isinstance(read_header(path), Instance)
        assert isinstance(read_header(_native(tmp_path, "even.dcm", 4, 4, 0)), Instance)
    assert not caplog.records


def test_a_damaged_file_is_quarantined_with_its_reason_and_the_rest_released(tmp_path,
                                                                           capsys):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(get_testdata_file(name), src / name)
    (src / "deep.dcm").write_bytes(_bytes(_nested(70)))
    (src / "cut.dcm").write_bytes(_rle()[:6000])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["deid", str(src), str(out), "--profile", "ps315-basic",
                     "--store", str(tmp_path / "s.db")])
    capsys.readouterr()
    assert code == 2
    reasons = [json.loads(line) for line in
               (tmp_path / "out.quarantine" / "reasons.jsonl").read_text().splitlines()]
    text = json.dumps(reasons)
    assert "ends inside fragment 1" in text and "nested more than 64 deep" in text
    assert len(reasons) == 2
    released = [p for p in out.rglob("*") if p.is_file() and p.suffix != ".json"]
    assert len([p for p in released if p.name.endswith(".dcm")]) == 2, released
