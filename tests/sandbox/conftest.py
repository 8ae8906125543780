"""Fixtures for the sandbox XNAT tests: a running sandbox and small synthetic DICOM studies."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from workbench.sandbox import SandboxServer

ADMIN = ("admin", "admin-pw")
OWNER = ("alice", "alice-pw")
COLLABORATOR = ("bob", "bob-pw")
OUTSIDER = ("carol", "carol-pw")


@dataclass
class SandboxHandle:
    """A running sandbox XNAT and the credentials of its project owner."""

    server: SandboxServer
    data_dir: Path
    user: str = OWNER[0]
    password: str = OWNER[1]

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self) -> None:
        """Stop the server and start a new one on the same data folder and port."""
        port = int(self.url.rsplit(":", 1)[1])
        self.server.stop()
        self.server = SandboxServer(self.data_dir, port=port).start()


@pytest.fixture
def sandbox_xnat(tmp_path: Path) -> Iterator[SandboxHandle]:
    """Sandbox on a free loopback port with project P1 owned by alice, bob as collaborator.

    Users: admin (site admin), alice (owner of P1 and P2), bob (collaborator in P1),
    carol (no project).
    """
    data_dir = tmp_path / "sandbox-data"
    server = SandboxServer(data_dir, users=dict([OWNER, COLLABORATOR, OUTSIDER]),
                           admins=dict([ADMIN])).start()
    server.create_project("P1", owner=OWNER[0])
    server.create_project("P2", owner=OWNER[0])
    server.set_role("P1", COLLABORATOR[0], "collaborator")
    handle = SandboxHandle(server, data_dir)
    yield handle
    handle.server.stop()


@dataclass
class DicomStudy:
    """A synthetic study written as a zip, with the original bytes of every file."""

    zip_path: Path
    study_uid: str
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (series no, name) -> bytes


def _ct_slice(study_uid: str, series_uid: str, number: int, description: str, index: int,
              patient: str, patient_id: str, comments: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientName = patient
    ds.PatientID = patient_id
    if comments:
        ds.PatientComments = comments
    ds.StudyDescription = "Synthetic head CT"
    ds.StudyDate, ds.StudyTime = "20240102", "093000"
    ds.Modality = "CT"
    ds.Manufacturer = "Sandbox"
    ds.SeriesNumber = number
    ds.SeriesDescription = description
    ds.InstanceNumber = index + 1
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (np.arange(256, dtype=np.uint16) * (index + number)).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture
def make_study(tmp_path: Path) -> Callable[..., DicomStudy]:
    """Factory writing a zip with one CT study: series 1 "AXIAL" and 2 "CORONAL", 3 slices each.

    Keyword arguments: ``name`` (zip name), ``studies`` (number of studies in the zip),
    ``patient``, ``patient_id``, ``comments`` (Patient Comments), ``series`` (list of
    ``(number, description)``).
    """
    def factory(name: str = "study.zip", studies: int = 1, patient: str = "ANON^001",
                patient_id: str = "PID 001", comments: str = "",
                series: tuple[tuple[int, str], ...] = ((1, "AXIAL"), (2, "CORONAL"))) -> DicomStudy:
        path = tmp_path / name
        study = DicomStudy(path, "")
        with zipfile.ZipFile(path, "w") as archive:
            for _ in range(studies):
                study.study_uid = generate_uid()
                for position, (number, description) in enumerate(series):
                    series_uid = generate_uid()
                    for index in range(3):
                        data = _ct_slice(study.study_uid, series_uid, number, description, index,
                                         patient, patient_id, comments)
                        filename = f"slice{index:03d}.dcm"
                        archive.writestr(f"{study.study_uid[-6:]}/{position}/{filename}", data)
                        study.files[(str(number), filename)] = data
        return study

    return factory
