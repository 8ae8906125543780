"""What several test folders share, besides fixtures (those are in tests/conftest.py):
the sandbox's users, de-identified outputs for pushing, the curated delivery, and small
synthetic CT studies zipped for the sandbox's import service."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from workbench.approval import APPROVED, sign
from workbench.catalog import Instance, scan
from workbench.deid.run import Report, deidentify_delivery
from workbench.examples import Planted, generate
from workbench.profile import Profile, load_profile
from workbench.review import pair_outputs
from workbench.sandbox import SandboxServer
from workbench.store import Store

PROFILE = "uk-pet-core-lab"
PROJECT = "ANIMATE"
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


@dataclass
class Output:
    """A de-identified output folder and the store that verified it."""

    out: Path
    store_path: Path

    @property
    def store(self) -> Store:
        return Store(self.store_path)

    def study_dirs(self) -> list[Path]:
        return sorted(p for p in self.out.glob("*/*") if p.is_dir())


def deidentify(planted: Planted, root: Path, approve: bool = True) -> Output:
    out, store_path = root / "out", root / "state.sqlite"
    store = Store(store_path)
    deidentify_delivery(planted.delivery, out, PROFILE, store=store,
                        lookup=str(planted.subjects_csv), progress=False)
    if approve:  # a person's approval: without it nothing is pushed
        sign(store, load_profile(PROFILE).trial_key, out, [], APPROVED, "Test Reviewer",
             every=True)
    return Output(out, store_path)


def holdings(server: SandboxHandle, project: str = PROJECT) -> dict[str, dict[str, int]]:
    """Per session label of ``project``: file count per scan, straight from the server's index."""
    store = server.server.store
    found: dict[str, dict[str, int]] = {}
    with store.lock:
        for experiment in store.project_experiments(project):
            label = store.experiment_label(experiment, project)
            found[label] = {scan_id: len(resource["files"])
                            for scan_id in experiment["scans"]
                            for resource in store.resources_of(("scan", experiment["ID"],
                                                                scan_id))}
    return found


def expected_holdings(output: Output) -> dict[str, dict[str, int]]:
    """What a complete push of ``output`` leaves on the server: files per scan per session."""
    found: dict[str, dict[str, int]] = {}
    for study in output.study_dirs():
        files = sorted(p for p in study.rglob("*") if p.is_file())
        ds = dcmread(files[0], stop_before_pixels=True)
        label = f"{study.parent.name}_{ds.StudyDate}"
        per_scan: dict[str, int] = {}
        for path in files:
            number = path.parent.name.split("_")[-1]
            per_scan[number] = per_scan.get(number, 0) + 1
        found[label] = per_scan
    return found


@dataclass
class Curated:
    """An example delivery, its de-identified output, the store, the report and the pairs."""

    planted: Planted
    out: Path
    store_path: Path
    report: Report
    instances: list[Instance]
    pairs: pd.DataFrame
    profile: Profile

    def series(self, modality: str, description: str = "", patient: int = 0) -> pd.DataFrame:
        """Pairs of one series of patient ``patient`` (by modality and description start)."""
        pid = self.planted.patients[patient]["patient_id"]
        uids = {i.series_uid for i in self.instances if i.patient_id == pid}
        rows = self.pairs[(self.pairs["modality"] == modality)
                          & self.pairs["series_description"].str.startswith(description)
                          & self.pairs["series_uid"].isin(uids)]
        first = rows["series_uid"].iloc[0]
        return rows[rows["series_uid"] == first].sort_values("instance_number")


_BUILT: dict[str, Curated] = {}


def build_curated(factory: pytest.TempPathFactory) -> Curated:
    """Generate two patients (64 x 64 CT, 6 slices), de-identify with uk-pet-core-lab; once."""
    if "curated" not in _BUILT:
        root = factory.mktemp("curated")
        planted = generate(root / "example", patients=2, seed=3, ct_slices=6, ct_size=64)
        out, store_path = root / "out", root / "state.sqlite"
        report = deidentify_delivery(planted.delivery, out, PROFILE, store=Store(store_path),
                                     lookup=str(planted.subjects_csv), progress=False)
        instances, _ = scan(planted.delivery)
        pairs = pair_outputs(instances, report=report)
        _BUILT["curated"] = Curated(planted, out, store_path, report, instances, pairs,
                                    load_profile(PROFILE))
    return _BUILT["curated"]


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


def study_zips(tmp_path: Path) -> Callable[..., DicomStudy]:
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
