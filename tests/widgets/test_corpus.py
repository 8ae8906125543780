"""The slice viewer over every file pydicom and pydicom-data ship: a picture or a reason."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom import dcmread
from pydicom.pixels import pixel_array

from workbench.catalog import files_under
from workbench.widgets import SliceViewer

from .conftest import decode


def _corpora() -> list[str]:
    folders = [Path(pydicom.__file__).parent / "data" / "test_files"]
    try:
        import data_store  # the pydicom-data package
    except ImportError:
        pass
    else:
        folders.append(Path(data_store.__file__).parent / "data")
    return [f for folder in folders for f in files_under(folder)]


FILES = _corpora()


def decodable(path: str) -> bool:
    """Whether pydicom itself decodes the first frame here."""
    try:
        ds = dcmread(path, force=True)
        frames = int(ds.get("NumberOfFrames") or 1)
        pixel_array(ds, index=0 if frames > 1 else None)
    except Exception:
        return False
    return True


def test_the_corpus_is_there():
    assert len(FILES) > 100


@pytest.mark.parametrize("path", FILES, ids=os.path.basename)
def test_viewer_shows_a_picture_or_says_why(path: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the corpus holds deliberately odd files
        viewer = SliceViewer([path], size=64)
        expected = decodable(path)
    if expected:
        assert viewer.message.value == "", viewer.message.value
        assert decode(viewer.before_image.value).size[0] == 64 or \
            decode(viewer.before_image.value).size[1] == 64
    else:
        assert "cannot" in viewer.message.value or "no pixel" in viewer.message.value \
            or "structured report" in viewer.message.value, viewer.message.value
