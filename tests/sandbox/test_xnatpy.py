"""The whole push workflow against the sandbox with unmodified xnatpy."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
import xnat
from xnat.exceptions import XNATResponseError, XNATUploadError

from support import SandboxHandle


def connect(sandbox: SandboxHandle, user: str | None = None, password: str | None = None):
    return xnat.connect(sandbox.url, user=user or sandbox.user,
                        password=password or sandbox.password, loglevel="ERROR")


def test_connect_reports_version_and_builds_classes(sandbox_xnat):
    with connect(sandbox_xnat) as session:
        assert session.xnat_version == "1.8.10"
        assert session.logged_in_user == "alice"
        assert {"P1", "P2"} <= set(session.projects.keys())
        for name in ("ProjectData", "SubjectData", "MrSessionData", "CtSessionData", "CtScanData"):
            assert hasattr(session.classes, name)


def test_create_objects_and_fields(sandbox_xnat):
    with connect(sandbox_xnat) as session:
        project = session.classes.ProjectData(parent=session, id_="P3", name="Project three")
        assert project.name == "Project three"
        session.clearcache()
        project = session.projects["P3"]
        subject = session.classes.SubjectData(parent=project, label="S1")
        experiment = session.classes.CtSessionData(parent=subject, label="E1", date="2024-01-01")
        scan = session.classes.CtScanData(parent=experiment, id="7", type="AXIAL")
        assert (subject.label, experiment.label, scan.id, scan.type) == ("S1", "E1", "7", "AXIAL")
        assert str(experiment.date) == "2024-01-01"
        experiment.note = "hello"
        experiment.clearcache()
        assert experiment.note == "hello"
        resource = experiment.create_resource("NOTES", format="TXT")
        resource.upload_data("some notes", "notes.txt")
        assert resource.files["notes.txt"].open().read() == b"some notes"
        assert experiment.id.startswith("SANDBOX_E")
        assert session.experiments[experiment.id].label == "E1"


def test_import_builds_session_by_xnat_rules(sandbox_xnat, make_study):
    study = make_study()
    with connect(sandbox_xnat) as session:
        experiment = session.services.import_(str(study.zip_path), project="P1", subject="SUBJ01",
                                              experiment="SESS01")
        assert experiment.label == "SESS01"
        assert experiment.__xsi_type__ == "xnat:ctSessionData"
        assert experiment.uid == study.study_uid
        assert str(experiment.date) == "2024-01-02"
        assert sorted(experiment.scans.keys()) == ["1", "2"]
        axial = experiment.scans["1"]
        assert axial.type == "AXIAL" and axial.series_description == "AXIAL"
        assert axial.__xsi_type__ == "xnat:ctScanData"
        assert experiment.scans["CORONAL"].id == "2"
        resource = axial.resources["DICOM"]
        assert resource.format == "DICOM" and resource.file_count == 3
        assert sorted(resource.files.keys()) == ["slice000.dcm", "slice001.dcm", "slice002.dcm"]
        session.clearcache()
        assert "SUBJ01" in session.projects["P1"].subjects
        assert "SESS01" in session.projects["P1"].subjects["SUBJ01"].experiments


def test_labels_from_dicom_are_sanitised(sandbox_xnat, make_study):
    study = make_study(patient="ANON^001", patient_id="PID 001")
    with connect(sandbox_xnat) as session:
        experiment = session.services.import_(str(study.zip_path), project="P1")
        assert experiment.label == "PID_001"
        assert experiment.subject.label == "ANON_001"


def test_comment_routing_assigns_project_subject_session(sandbox_xnat, make_study):
    study = make_study(comments="Project: P2; Subject: ROUTED_S Session:ROUTED_E")
    with connect(sandbox_xnat) as session:
        experiment = session.services.import_(str(study.zip_path))
        assert (experiment.project, experiment.label) == ("P2", "ROUTED_E")
        assert experiment.subject.label == "ROUTED_S"


def test_duplicate_series_numbers_get_xnat_style_ids(sandbox_xnat, make_study):
    study = make_study(series=((3, "LOCALIZER"), (3, "AXIAL")))
    with connect(sandbox_xnat) as session:
        experiment = session.services.import_(str(study.zip_path), project="P1", subject="S",
                                              experiment="DUP")
        assert sorted(experiment.scans.keys()) == ["3", "3-CT1"]


def test_downloads_round_trip_byte_for_byte(sandbox_xnat, make_study, tmp_path: Path):
    study = make_study()
    with connect(sandbox_xnat) as session:
        experiment = session.services.import_(str(study.zip_path), project="P1", subject="S1",
                                              experiment="E1")
        file = experiment.scans["1"].resources["DICOM"].files["slice001.dcm"]
        assert file.digest == hashlib.md5(study.files[("1", "slice001.dcm")]).hexdigest()
        assert int(file.size) == len(study.files[("1", "slice001.dcm")])
        target = tmp_path / "one.dcm"
        file.download(str(target), verbose=False)
        assert target.read_bytes() == study.files[("1", "slice001.dcm")]

        resource_zip = tmp_path / "resource.zip"
        experiment.scans["2"].resources["DICOM"].download(str(resource_zip), verbose=False)
        with zipfile.ZipFile(resource_zip) as archive:
            got = {Path(n).name: archive.read(n) for n in archive.namelist()}
        assert got == {name: data for (series, name), data in study.files.items() if series == "2"}

        session_zip = tmp_path / "session.zip"
        experiment.download(str(session_zip), verbose=False)
        with zipfile.ZipFile(session_zip) as archive:
            names = archive.namelist()
            assert "E1/scans/1-AXIAL/resources/DICOM/files/slice000.dcm" in names
            got = {(n.split("/")[2].split("-")[0], Path(n).name): archive.read(n) for n in names}
        assert got == study.files

        unpacked = experiment.scans["1"].resources["DICOM"].download_dir(str(tmp_path / "dir"),
                                                                          verbose=False)
        assert (Path(unpacked) / "slice002.dcm").read_bytes() == study.files[("1", "slice002.dcm")]


def test_share_subject_and_experiment(sandbox_xnat, make_study):
    study = make_study()
    with connect(sandbox_xnat) as session:
        experiment = session.services.import_(str(study.zip_path), project="P1", subject="S1",
                                              experiment="E1")
        subject = session.projects["P1"].subjects["S1"]
        subject.share("P2", label="S1_in_P2")
        experiment.share("P2", label="E1_in_P2")
        with pytest.raises(XNATResponseError, match="409"):
            subject.share("P2", label="S1_in_P2")
        with pytest.raises(XNATResponseError, match="409"):
            experiment.share("P2", label="E1_in_P2")
        session.clearcache()
        p2 = session.projects["P2"]
        assert list(p2.subjects.keys()) == [subject.id]
        shared_subject = p2.subjects["S1_in_P2"]
        assert shared_subject.id == subject.id
        assert shared_subject.label == "S1_in_P2"
        shared = p2.experiments["E1_in_P2"]
        assert shared.id == experiment.id
        assert sorted(shared.scans.keys()) == ["1", "2"]
        assert "E1_in_P2" in shared_subject.experiments
        rows = session.get_json("/data/projects/P1/subjects")["ResultSet"]["Result"]
        assert [row["label"] for row in rows] == ["S1"]


def test_prearchive_import_archive_and_conflict(sandbox_xnat, make_study):
    study = make_study()
    with connect(sandbox_xnat) as session:
        pre = session.services.import_(str(study.zip_path), project="P1", subject="S1",
                                       experiment="E1", destination="/prearchive")
        assert pre.status == "READY" and pre.label == "E1" and pre.subject == "S1"
        assert [s.label for s in session.prearchive.sessions("P1")] == ["E1"]
        assert sorted(s.id for s in pre.scans) == ["1", "2"]
        archived = pre.archive()
        assert archived.label == "E1" and sorted(archived.scans.keys()) == ["1", "2"]
        assert session.prearchive.sessions("P1") == []

        again = session.services.import_(str(study.zip_path), project="P1", subject="S1",
                                         experiment="E1", destination="/prearchive")
        assert again.status == "CONFLICT"
        with pytest.raises(XNATResponseError, match="409") as error:
            again.archive()
        assert error.value.text == "Session already exists, retry with overwrite enabled"
        merged = again.archive(overwrite="append")
        assert merged.id == archived.id
        assert merged.scans["1"].resources["DICOM"].file_count == 3

        sandbox_xnat.server.set_prearchive_code("P1", 0)
        held = session.services.import_(str(study.zip_path), project="P1", subject="S2",
                                        experiment="E2")
        assert held.status == "READY" and held.uri.startswith("/data/prearchive/projects/P1/")
        held.move("P2")
        assert [s.label for s in session.prearchive.sessions("P2")] == ["E2"]
        assert session.prearchive.sessions("P2")[0].archive().project == "P2"


def test_existing_session_with_overwrite_none_is_refused(sandbox_xnat, make_study):
    study = make_study()
    with connect(sandbox_xnat) as session:
        first = session.services.import_(str(study.zip_path), project="P1", subject="S1",
                                         experiment="E1", destination="/archive")
        with pytest.raises(XNATUploadError) as error:
            session.services.import_(str(study.zip_path), project="P1", subject="S1",
                                     experiment="E1", destination="/archive", overwrite="none")
        assert "409" in str(error.value)
        assert "Session already exists, retry with overwrite enabled" in str(error.value)
        conflicts = session.prearchive.sessions("P1")
        assert [(s.label, s.status) for s in conflicts] == [("E1", "CONFLICT")]
        again = session.services.import_(str(study.zip_path), project="P1", subject="S1",
                                         experiment="E1", destination="/archive",
                                         overwrite="append")
        assert again.id == first.id


def test_several_studies_in_one_zip_are_refused(sandbox_xnat, make_study):
    study = make_study(studies=2)
    with connect(sandbox_xnat) as session:
        with pytest.raises(XNATUploadError) as error:
            session.services.import_(str(study.zip_path), project="P1", subject="S1",
                                     experiment="E1")
        assert "400" in str(error.value)
        assert "Upload included files for multiple imaging sessions." in str(error.value)
        session.clearcache()
        assert len(session.projects["P1"].experiments) == 0


def test_unparsable_uploads_are_refused(sandbox_xnat, make_study, tmp_path: Path):
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"this is not a zip file at all" * 100)
    study = make_study()
    mixed = tmp_path / "mixed.zip"
    with zipfile.ZipFile(study.zip_path) as source, zipfile.ZipFile(mixed, "w") as target:
        target.writestr("README.txt", "not DICOM")
        for name in source.namelist():
            target.writestr(name, source.read(name))
    tail_garbage = tmp_path / "tail.zip"
    with zipfile.ZipFile(study.zip_path) as source, zipfile.ZipFile(tail_garbage, "w") as target:
        for name in source.namelist():
            target.writestr(name, source.read(name))
        target.writestr("zz/notes.txt", "not DICOM either")
    with connect(sandbox_xnat) as session:
        with pytest.raises(XNATUploadError) as error:
            session.services.import_(str(garbage), project="P1", subject="S1", experiment="E1")
        assert "400" in str(error.value)
        assert "Upload did not include parseable files for session generation." in str(error.value)
        with pytest.raises(XNATUploadError, match="unable to read DICOM object README.txt"):
            session.services.import_(str(mixed), project="P1", subject="S1", experiment="E1")
        with pytest.raises(XNATUploadError, match="unable to read DICOM object zz/notes.txt"):
            session.services.import_(str(tail_garbage), project="P1", subject="S1",
                                     experiment="E1")
        partial = session.prearchive.sessions("P1")
        assert [(s.label, s.status) for s in partial] == [("E1", "ERROR")]
        partial[0].delete()
        with pytest.raises(XNATResponseError, match="400"):
            session.post("/data/services/import", query={"overwrite": "always"}, data=b"")
        assert session.services.import_(str(mixed), project="P1", subject="S1", experiment="E1",
                                        ignore_unparsable=True).label == "E1"
