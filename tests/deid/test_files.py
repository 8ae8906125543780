"""Source reading and output encoding: same bytes as pydicom, pixel data copied on disk."""

from __future__ import annotations

import warnings
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom import dcmread
from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.filewriter import dcmwrite

from workbench.deid.engine import Engine, Subject
from workbench.catalog import CATALOG_TAGS, read_header
from workbench.deid.files import read_source, source_pixels, write_output
from workbench.dicomio import PIXEL_TAGS, encode, get_value, implicit_vr, raw_text, read_part10
from workbench.profile import load_profile

FILES = sorted(p for p in (Path(pydicom.__file__).parent / "data" / "test_files").glob("*.dcm"))


def _pydicom_bytes(ds) -> bytes:
    buf = BytesIO()
    dcmwrite(buf, ds)
    return buf.getvalue()


def test_encode_matches_pydicom_on_deidentified_corpus():
    engine = Engine(load_profile("ps315-basic"), b"encode-test-secret-0123456789")
    compared = 0
    for path in FILES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = dcmread(path)
            except Exception:
                continue  # files pydicom cannot read are the corpus test's business
            if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}) or \
                    not ds.file_meta.TransferSyntaxUID.is_little_endian:
                continue
            engine.deidentify(ds, Subject("S-1", -10))  # an engine error fails this test
            try:
                expected = _pydicom_bytes(ds)
            except Exception:
                continue  # pydicom cannot write this dataset: nothing to compare against
        assert encode(ds) == expected, path.name
        compared += 1
    assert compared > 40


def test_pixel_data_is_copied_unchanged(example_delivery, tmp_path):
    src = next(example_delivery.delivery.rglob("CT_2/*.dcm"))
    source = read_source(str(src))
    assert source.tail is not None and "PixelData" not in source.dataset
    engine = Engine(load_profile("uk-pet-core-lab"), b"encode-test-secret-0123456789")
    header = engine.to_bytes(engine.deidentify(source.dataset, Subject("S-1", -10)))
    element, pixels = source_pixels(source)
    write_output(tmp_path / "x.dcm", header + element)
    out, original = dcmread(tmp_path / "x.dcm"), dcmread(src)
    assert out.PixelData == original.PixelData == pixels
    assert out.pixel_array.shape == (512, 512)
    assert not list(tmp_path.glob(".*partial"))


def test_sources_with_elements_after_pixel_data_are_read_whole(tmp_path):
    ds = dcmread(pydicom.data.get_testdata_file("CT_small.dcm"))
    ds.add_new(0xFFFCFFFC, "OB", b"\0\0")  # trailing padding after the pixel data
    ds.save_as(tmp_path / "padded.dcm")
    source = read_source(str(tmp_path / "padded.dcm"))
    assert source.tail is None and "PixelData" in source.dataset


@pytest.mark.parametrize("name", ["JPEG2000.dcm", "SC_rgb_rle.dcm"])
def test_encapsulated_pixel_data_stays_on_disk(name, tmp_path):
    path = pydicom.data.get_testdata_file(name)
    source = read_source(path)
    assert source.tail is not None
    element, pixels = source_pixels(source)
    write_output(tmp_path / "y.dcm", encode(source.dataset) + element)
    assert dcmread(tmp_path / "y.dcm").PixelData == dcmread(path).PixelData == pixels


@pytest.mark.parametrize("padding", [10, 70_000, 65_536 - 400])
def test_headers_of_any_length_are_read_whole(padding, tmp_path):
    ds = dcmread(pydicom.data.get_testdata_file("CT_small.dcm"))
    del ds[0xFFFCFFFC]  # its trailing padding: the pixel data ends the file
    ds.add_new(0x00091010, "LO", "ACME")  # private creator, then a long value before the pixels
    ds.add_new(0x00091011, "OB", b"\x01" * padding)
    ds.save_as(tmp_path / "long.dcm")
    size = (tmp_path / "long.dcm").stat().st_size
    source = read_source(str(tmp_path / "long.dcm"))
    assert source.dataset[0x00091011].value == b"\x01" * padding
    assert source.tail is not None and source.tail[0] + source.tail[1] == size
    assert read_header(str(tmp_path / "long.dcm")).sop_uid == ds.SOPInstanceUID


def test_values_read_from_undecoded_bytes_are_pydicom_values():
    charsets = sorted((Path(pydicom.__file__).parent / "data" / "charset_files").glob("*.dcm"))
    read_raw = implicit = 0
    for path in FILES + charsets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                raw, decoded = (dcmread(path, stop_before_pixels=True) for _ in range(2))
            except Exception:
                continue
            for tag, elem in list(raw.items()):
                keyword = keyword_for_tag(tag)
                if keyword and tag_for_keyword(keyword) == tag:
                    fast = raw_text(elem) is not None or (elem.VR or implicit_vr(tag)) == "US"
                    read_raw += fast
                    implicit += fast and elem.VR is None  # read without a VR in the file
                    assert str(get_value(raw, keyword)) == str(decoded.get(keyword)), (path, tag)
    assert read_raw > 1000 and implicit > 100


def test_headers_read_without_dcmread_are_what_dcmread_reads():
    charsets = sorted((Path(pydicom.__file__).parent / "data" / "charset_files").glob("*.dcm"))
    read = truncated = 0
    for path in FILES + charsets:
        data = path.read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                expected = dcmread(BytesIO(data), stop_before_pixels=True)
            except Exception:
                continue
            try:
                parsed, some = read_part10(data), read_part10(data, CATALOG_TAGS)
            except EOFError:  # dcmread reads what is there of the last element
                truncated += 1
                continue
            if parsed is None:
                continue
            (ds, offset), (part, _) = parsed, some
            read += 1
            assert ds == expected and ds.file_meta == expected.file_meta, path.name
            assert ds.original_encoding == expected.original_encoding, path.name
            assert ds.original_character_set == expected.original_character_set, path.name
            assert offset is None or int.from_bytes(data[offset:offset + 4], "little") in {
                (t & 0xFFFF) << 16 | t >> 16 for t in PIXEL_TAGS}, path.name
            assert {t: part[t].value for t in CATALOG_TAGS if t in expected} == \
                {t: expected[t].value for t in CATALOG_TAGS if t in expected}, path.name
    assert read > 30 and truncated >= 1
