"""The verifier reads the whole output with pydicom's reader: pixel data complete and unchanged."""
from __future__ import annotations

import hashlib
from io import BytesIO

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate

from workbench import verify
from workbench.deid.engine import Engine, Subject
from workbench.deid.files import read_source, source_pixels
from workbench.profile import load_profile

SECRET = b"whole-file-test-secret-0123456789"
PROFILE = load_profile("ps315-basic")


def _output(name: str):
    """(output bytes, source pixel value, identity) for one of pydicom's files."""
    source = read_source(get_testdata_file(name))
    identity = verify.identity_of(source.dataset, PROFILE)
    engine = Engine(PROFILE, SECRET)
    header = engine.to_bytes(engine.deidentify(source.dataset, Subject("SUBJ-0001", -10)))
    element, pixels = source_pixels(source)
    return header + element, pixels, identity


def _rewrite(data: bytes, pixel_data: bytes) -> bytes:
    """The output with other pixel data bytes, written by pydicom."""
    ds = dcmread(BytesIO(data))
    ds.PixelData = pixel_data
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_RLE.dcm", "emri_small_RLE.dcm",
                                  "JPEG2000.dcm", "SC_rgb_jpeg_dcmtk.dcm", "liver_1frame.dcm"])
def test_whole_outputs_of_other_projects_files_verify(name):
    data, pixels, identity = _output(name)
    assert pixels
    assert verify.check(data, identity, PROFILE, pixels) == []


def test_a_fragment_cut_short_fails():
    data, pixels, identity = _output("MR_small_RLE.dcm")
    cut = pixels[:-100]  # the item still declares its full length
    problems = verify.check(_rewrite(data, cut), identity, PROFILE, cut)
    assert any("ends inside fragment 1" in p for p in problems), problems


def test_a_missing_frame_fails():
    data, pixels, identity = _output("emri_small_RLE.dcm")  # 10 frames, one fragment each
    fewer = encapsulate(_fragments(pixels)[:-1])
    problems = verify.check(_rewrite(data, fewer), identity, PROFILE, fewer)
    assert any("9 fragment(s) for 10 frame(s)" in p for p in problems), problems


def test_a_jpeg_frame_without_its_end_marker_fails():
    data, pixels, identity = _output("SC_rgb_jpeg_dcmtk.dcm")
    frame = _fragments(pixels)[-1].rstrip(b"\0")
    assert frame.endswith(b"\xff\xd9")
    shorter = encapsulate([frame[:-40]])
    problems = verify.check(_rewrite(data, shorter), identity, PROFILE, shorter)
    assert any("no end-of-image marker" in p for p in problems), problems


def test_pixel_data_that_differs_from_the_source_fails():
    data, pixels, identity = _output("CT_small.dcm")
    other = bytearray(pixels)
    other[1000] ^= 0x01
    assert verify.check(data, identity, PROFILE, bytes(other)) == [
        "the pixel data differs from the input's"]


def test_native_pixel_data_too_short_for_its_image_fails():
    data, pixels, identity = _output("CT_small.dcm")
    short = pixels[:-2]
    problems = verify.check(_rewrite(data, short), identity, PROFILE, short)
    assert any("lacks 2 bytes" in p for p in problems), problems


def test_an_output_without_the_sources_pixel_data_fails():
    data, pixels, identity = _output("CT_small.dcm")
    ds = dcmread(BytesIO(data))
    del ds.PixelData
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    problems = verify.check(buf.getvalue(), identity, PROFILE, pixels)
    assert any("pixel data of the input is missing" in p for p in problems), problems


def test_a_file_cut_inside_an_element_fails_to_parse():
    data, pixels, identity = _output("CT_small.dcm")
    end = data.index(b"\xe0\x7f\x10\x00")  # the header alone, then cut inside its last value
    problems = verify.check(data[:end - 3], identity, PROFILE, None)
    assert problems and problems[0].startswith("output does not parse")


def test_the_verdict_carries_the_digest_of_what_it_checked():
    data, pixels, identity = _output("CT_small.dcm")
    found = verify.verdict(data, identity, PROFILE, pixels)
    assert found.verified and found.sha256 == hashlib.sha256(data).hexdigest()


def _fragments(value: bytes) -> list[bytes]:
    """The fragments of encapsulated pixel data, read here with the item structure."""
    frags, pos = [], 0
    while pos < len(value):
        length = int.from_bytes(value[pos + 4:pos + 8], "little")
        frags.append(value[pos + 8:pos + 8 + length])
        pos += 8 + length
    return frags[1:]  # without the Basic Offset Table
