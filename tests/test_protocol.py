"""Trial protocol checks (``workbench validate``): what passes, warns and fails, what a
protocol file with a mistake says, and the command's output and exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest
import yaml
from pydicom.data import get_testdata_file

from workbench.catalog import scan
from workbench.cli import main
from workbench.errors import ProfileError
from workbench.examples import Planted
from workbench.protocol import (check, findings_table, is_tg263, load_protocol, tg263_names,
                                tg263_suggestions)

SHIPPED = Path(__file__).resolve().parents[1] / "profiles" / "protocols"


@pytest.fixture(scope="module")
def instances(example_delivery: Planted):
    return scan(example_delivery.delivery)[0]


def _by_rule(findings, rule: str) -> list:
    return [f for f in findings if f.rule == rule]


def _protocol(tmp_path: Path, doc: dict, name: str = "trial") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _shipped(name: str) -> dict:
    return yaml.safe_load((SHIPPED / f"{name}.yaml").read_text())


def _rtstruct(tmp_path: Path, names: list[str]) -> Path:
    """pydicom's rtstruct.dcm with its ROI names replaced, alone in a folder."""
    ds = pydicom.dcmread(get_testdata_file("rtstruct.dcm"), force=True)
    for item, name in zip(ds.StructureSetROISequence, names):
        item.ROIName = name
    folder = tmp_path / "rt"
    folder.mkdir()
    ds.save_as(folder / "rtstruct.dcm", enforce_file_format=False)
    return folder


RT_ONLY = {"name": "rt-only", "series": {"RTSTRUCT": {
    "modality": "RTSTRUCT", "sop_class": "RTStructureSetStorage",
    "structures": {"required": ["External"], "tg263": True}}}}


# --- on the example delivery -----------------------------------------------------------

@pytest.mark.parametrize("name", ["petct-trial", "rt-trial"])
def test_shipped_protocols_pass_on_the_example_delivery(instances, name):
    findings = check(instances, name)
    assert not [f for f in findings if f.severity == "fail"], findings
    studies = {i.study_uid for i in instances}
    assert {f.study for f in findings} == studies
    assert {f.patient_id for f in findings} == {i.patient_id for i in instances}


def test_petct_trial_reports_series_ranges_and_unlisted_classes(instances):
    findings = check(instances, "petct-trial")
    ct = _by_rule(findings, "series CT")
    assert len(ct) == 2 and all(f.severity == "pass" for f in ct)
    assert "CT WB 3.0 Br38" in ct[0].detail
    thick = _by_rule(findings, "SliceThickness (PET)")
    assert [f.detail for f in thick] == ["SliceThickness 6 in [2, 6]"] * 2
    assert {f.detail for f in _by_rule(findings, "timepoint")} == {"baseline", "follow-up"}
    sop = [f for f in _by_rule(findings, "SOP classes") if f.severity != "pass"]
    assert len(sop) == 2 and all(f.severity == "warn" for f in sop)
    assert "Secondary Capture Image Storage" in sop[0].detail
    assert "sop_classes.allowed" in sop[0].suggestion


def test_a_missing_required_series_fails(instances):
    without_pet = [i for i in instances if i.modality != "PT" or "screen" in i.series_description]
    findings = check(without_pet, "petct-trial")
    pet = _by_rule(findings, "series PET")
    assert len(pet) == 2 and all(f.severity == "fail" for f in pet)
    assert "0 series match (modality PT, SeriesDescription ~ 'PET.*AC'" in pet[0].detail
    assert pet[0].suggestion == "send the PET series, or check its SeriesDescription"
    assert not [f for f in findings if f.severity == "fail" and f.rule != "series PET"]


def test_a_missing_timepoint_fails_for_the_patient(instances):
    findings = check([i for i in instances if i.modality != "MR"], "petct-trial")
    missing = _by_rule(findings, "timepoint follow-up")
    assert {f.patient_id for f in missing} == {i.patient_id for i in instances}
    assert all(f.severity == "fail" and f.study == "" for f in missing)
    assert "study 2 by date" in missing[0].detail


def test_slice_thickness_out_of_range_fails(instances, tmp_path):
    doc = _shipped("petct-trial")
    doc["series"]["CT"]["ranges"]["SliceThickness"] = [0.5, 2.5]
    findings = check(instances, load_protocol(_protocol(tmp_path, doc)))
    thick = _by_rule(findings, "SliceThickness (CT)")
    assert len(thick) == 2 and all(f.severity == "fail" for f in thick)
    assert thick[0].detail == "outside [0.5, 2.5]: CT 'CT WB 3.0 Br38': SliceThickness 3"
    assert "SliceThickness in [0.5, 2.5]" in thick[0].suggestion


def test_too_many_series_fail(instances, tmp_path):
    doc = _shipped("petct-trial")
    doc["series"]["CT"] = {"modality": "CT", "max": 0, "required": False}
    findings = check(instances, load_protocol(_protocol(tmp_path, doc)))
    assert [f.severity for f in _by_rule(findings, "series CT")] == ["fail"] * 2
    assert "at most 0 allowed" in _by_rule(findings, "series CT")[0].detail


def test_rename_map_of_the_site_applies_before_the_structure_checks(example_delivery, tmp_path):
    rt = next(example_delivery.delivery.rglob("RTSTRUCT_4/*.dcm"))
    ds = pydicom.dcmread(rt)
    ds.StructureSetROISequence[2].ROIName = "Lt Lung"
    (tmp_path / "rt").mkdir()
    ds.save_as(tmp_path / "rt" / "rt.dcm")

    plain = check(tmp_path / "rt", "rt-trial")
    [structures] = _by_rule(plain, "structures (RTSTRUCT)")
    assert structures.severity == "fail"
    assert structures.detail.startswith("missing Lung_L; found: GTV, PTV, Lt Lung")
    assert "'Lung_L' may be 'Lt Lung'" in structures.suggestion
    [name] = _by_rule(plain, "TG-263 name 'Lt Lung'")
    assert name.severity == "warn" and name.suggestion.startswith("TG-263: Lung_L")

    renamed = check(tmp_path / "rt", "rt-trial", site="SITE09")
    assert _by_rule(renamed, "structures (RTSTRUCT)")[0].severity == "pass"
    assert not _by_rule(renamed, "TG-263 name 'Lt Lung'")
    assert _by_rule(renamed, "TG-263 names (RTSTRUCT)")[0].severity == "pass"


# --- RTSTRUCT from pydicom's test files -----------------------------------------------

def test_pydicom_rtstruct_names_warn_and_pass_after_a_rename(tmp_path):
    src = get_testdata_file("rtstruct.dcm")
    plain = check(src, load_protocol(_protocol(tmp_path, RT_ONLY)))
    warned = {f.rule: f for f in plain if f.severity == "warn"}
    assert set(warned) == {"TG-263 name 'patient'", "TG-263 name 'Isocenter 1'",
                           "TG-263 name 'Isocenter 2'"}
    assert warned["TG-263 name 'patient'"].detail == \
        "ROI 'patient' is not a TG-263 standard name"
    assert warned["TG-263 name 'patient'"].suggestion == \
        "TG-263: External; map it under rename: {SITE: {'patient': <TG-263 name>}}"
    [structures] = _by_rule(plain, "structures (RTSTRUCT)")
    assert structures.severity == "fail" and "missing External" in structures.detail

    doc = dict(RT_ONLY, rename={"SITE01": {"patient": "External"}})
    renamed = check(src, load_protocol(_protocol(tmp_path, doc)), site="SITE01")
    assert not _by_rule(renamed, "TG-263 name 'patient'")
    assert _by_rule(renamed, "structures (RTSTRUCT)")[0].severity == "pass"
    assert all(f.patient_id == "tPhantom30sep" for f in renamed)


def test_a_non_standard_roi_name_warns_with_the_tg263_suggestion(tmp_path):
    folder = _rtstruct(tmp_path, ["Lt Parotid", "Spinal Cord", "PTV_7000"])
    findings = check(folder, load_protocol(_protocol(tmp_path, RT_ONLY)))
    warned = {f.rule: f for f in findings if f.severity == "warn"}
    assert set(warned) == {"TG-263 name 'Lt Parotid'", "TG-263 name 'Spinal Cord'"}
    assert warned["TG-263 name 'Lt Parotid'"].suggestion.startswith("TG-263: Parotid_L or ")
    assert warned["TG-263 name 'Spinal Cord'"].suggestion.startswith("TG-263: SpinalCord")


def test_the_tg263_list_and_patterns():
    names = tg263_names()
    assert len(names) > 200 and len(set(names)) == len(names)
    for name in ("Parotid_L", "Parotid_R", "SpinalCord", "Brainstem", "Lung_L", "Lung_R",
                 "Heart", "Esophagus", "GTVp", "CTV", "PTV", "Bladder", "Rectum",
                 "Femur_Head_L", "PTV_High", "CTVn_5400", "SpinalCord_PRV05"):
        assert is_tg263(name), name
    for name in ("Lt Parotid", "spinal cord", "PTV_foo", "Isocenter 1"):
        assert not is_tg263(name), name
    assert tg263_suggestions("Rt Femoral Head")[0] == "Femur_Head_R"
    assert tg263_suggestions("L Kidney")[0] == "Kidney_L"
    assert tg263_suggestions("Body") == ["External"]


# --- protocol files ------------------------------------------------------------------

@pytest.mark.parametrize(("change", "says"), [
    (lambda d: d["series"]["CT"].update(modalty="CT"),
     ["series CT: unknown key 'modalty'; did you mean 'modality'?"]),
    (lambda d: d.update(timepoint={}), ["the protocol: unknown key 'timepoint'; did you mean "
                                        "'timepoints'?"]),
    (lambda d: d["series"]["PET"].update(description="PET(AC"),
     ["series PET: description: bad regular expression 'PET(AC'"]),
    (lambda d: d["series"]["CT"]["ranges"].update(SliceThicknes=[1, 2]),
     ["series CT: ranges: SliceThicknes: unknown attribute keyword 'SliceThicknes'; "
      "did you mean 'SliceThickness'?"]),
    (lambda d: d["series"]["CT"]["ranges"].update(SliceThickness=[5, 1]),
     ["bad range [5, 1]; write [low, high] with low <= high"]),
    (lambda d: d["series"]["CT"]["ranges"].update(PatientName=[1, 2]),
     ["PatientName is not numeric (VR PN)"]),
    (lambda d: d["series"]["PET"].update(modality="PET"), ["'PET' is not a DICOM modality "
                                                           "(PET is PT)"]),
    (lambda d: d["series"]["CT"].update(sop_class="CTImageStorge"),
     ["unknown SOP class 'CTImageStorge'; did you mean 'CTImageStorage'?"]),
    (lambda d: d["timepoints"]["baseline"].update(series=["CT", "PETT"]),
     ["timepoints: baseline: series: no series rule 'PETT'; did you mean 'PET'?"]),
    (lambda d: d["sop_classes"].update(severity="error"), ["'error': write warn or fail"]),
])
def test_a_protocol_with_a_mistake_is_refused_naming_it(tmp_path, change, says):
    doc = _shipped("petct-trial")
    change(doc)
    path = _protocol(tmp_path, doc)
    with pytest.raises(ProfileError) as err:
        load_protocol(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    for text in says:
        assert text in message


def test_protocols_are_found_by_name_on_the_profile_path(tmp_path, monkeypatch):
    (tmp_path / "protocols").mkdir()
    _protocol(tmp_path / "protocols", RT_ONLY, "site-rt")
    monkeypatch.setenv("WORKBENCH_PROFILE_PATH", str(tmp_path))
    assert load_protocol("site-rt").name == "rt-only"
    assert load_protocol("petct-trial").path == SHIPPED / "petct-trial.yaml"
    with pytest.raises(ProfileError, match="no protocol named 'rt-trail'; shipped protocols: "
                       "petct-trial, rt-trial, site-rt"):
        load_protocol("rt-trail")


def test_findings_table_has_one_row_per_study_and_rule(instances):
    findings = check(instances, "rt-trial")
    table = findings_table(findings)
    assert list(table.columns) == ["patient_id", "study", "rule", "severity", "detail",
                                   "suggestion"]
    assert len(table) == len(findings)
    assert not table.duplicated(["study", "rule"]).any()
    assert set(table["severity"]) == {"pass", "warn"}


# --- the command line ------------------------------------------------------------------

def test_validate_exits_0_when_nothing_fails(example_delivery, capsys):
    assert main(["validate", str(example_delivery.delivery), "--protocol", "rt-trial"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "22 pass, 2 warn, 0 fail"
    assert any(line.startswith("pass  ") and "structures (RTSTRUCT): all 5 required structures "
               "present" in line for line in out)
    assert any(line.startswith("warn  ") and "SOP classes: not allowed:" in line
               and " -> leave these series out" in line for line in out)


def test_validate_exits_2_when_a_check_fails(example_delivery, tmp_path, capsys):
    doc = _shipped("petct-trial")
    doc["series"]["CT"]["ranges"]["SliceThickness"] = [0.5, 2.5]
    path = _protocol(tmp_path, doc)
    assert main(["validate", str(example_delivery.delivery), "--protocol", str(path)]) == 2
    out = capsys.readouterr().out
    assert "fail  " in out and "SliceThickness (CT): outside [0.5, 2.5]" in out
    assert out.splitlines()[-1].endswith(", 2 fail")


def test_validate_suggests_tg263_names_with_the_site(tmp_path, capsys):
    folder = _rtstruct(tmp_path, ["Lt Parotid", "External", "GTVp"])
    path = _protocol(tmp_path, dict(RT_ONLY, rename={"SITE01": {"Lt Parotid": "Parotid_L"}}))
    assert main(["validate", str(folder), "--protocol", str(path)]) == 0
    out = capsys.readouterr().out
    assert "warn  tPhantom30sep" in out and "TG-263 name 'Lt Parotid'" in out
    assert "-> TG-263: Parotid_L or" in out
    assert main(["validate", str(folder), "--protocol", str(path), "--site", "SITE01"]) == 0
    out = capsys.readouterr().out
    assert "TG-263 names (RTSTRUCT): all 3 ROI names are TG-263 names" in out
    assert "warn" not in out.replace("0 warn", "")


def test_validate_refuses_a_bad_protocol_in_one_line(example_delivery, tmp_path, capsys):
    doc = _shipped("rt-trial")
    doc["series"]["RTSTRUCT"]["structures"]["tg-263"] = True
    path = _protocol(tmp_path, doc)
    assert main(["validate", str(example_delivery.delivery), "--protocol", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith(f"error: {path}: series RTSTRUCT: structures: unknown key "
                                   "'tg-263'; did you mean 'tg263'?")
    assert main(["validate", str(example_delivery.delivery), "--protocol", "rt-trail"]) == 1
    assert capsys.readouterr().err.startswith("error: no protocol named 'rt-trail'; shipped "
                                              "protocols: petct-trial, rt-trial.")


def test_validate_fails_on_a_folder_without_dicom(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["validate", str(tmp_path / "empty"), "--protocol", "petct-trial"]) == 2
    assert "fail  -  -  delivery: no DICOM instances found" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "missing"), "--protocol", "petct-trial"]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_copied_protocol_keeps_working(tmp_path, instances):
    path = Path(shutil.copy(SHIPPED / "rt-trial.yaml", tmp_path / "mine.yaml"))
    assert not [f for f in check(instances, path) if f.severity == "fail"]
