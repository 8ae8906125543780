"""Only what a person approved leaves the site: status, approve, reject and the push gate."""

from __future__ import annotations

import shutil

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from support import PROFILE, deidentify, holdings
from workbench.cli import main
from workbench.deid.run import deidentify_delivery
from workbench.profile import load_profile
from workbench.store import Store


TRIAL = load_profile(PROFILE).trial_key


@pytest.fixture
def waiting(planted, tmp_path):
    """A de-identified output nobody has approved yet."""
    return deidentify(planted, tmp_path / "site", approve=False)


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main(list(map(str, args)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def push(capsys, output, server, tmp_path) -> tuple[int, str]:
    code, out, _ = cli(capsys, "push", output.out, "--profile", PROFILE, "--xnat", server.url,
                       "--store", output.store_path, "--receipts", tmp_path / "receipts")
    return code, out


def test_a_push_without_approval_sends_nothing_and_says_how(waiting, xnat_server, tmp_path,
                                                            capsys):
    code, out = push(capsys, waiting, xnat_server, tmp_path)
    assert code == 2 and holdings(xnat_server) == {}
    assert "2 held for approval" in out and "workbench approve" in out
    code, out, _ = cli(capsys, "status", waiting.out, "--store", waiting.store_path)
    assert code == 0
    assert out.count("waiting for approval") == 2 and "approve with workbench approve" in out


def test_approved_studies_go_rejected_ones_stay(waiting, xnat_server, tmp_path, capsys):
    first, second = (f"{p.parent.name}/{p.name}" for p in waiting.study_dirs())
    code, out, _ = cli(capsys, "approve", waiting.out, first, "--by", "Dr A. Reviewer",
                       "--store", waiting.store_path)
    assert code == 0 and f"{first}: approved by Dr A. Reviewer" in out
    code, out, err = cli(capsys, "reject", waiting.out, second, "--by", "Dr A. Reviewer",
                         "--note", "name burned into the PET MIP", "--store", waiting.store_path)
    assert code == 0 and "rejected" in out
    code, out = push(capsys, waiting, xnat_server, tmp_path)
    assert code == 2 and len(holdings(xnat_server)) == 1
    assert "rejected by Dr A. Reviewer" in out and "name burned into the PET MIP" in out
    code, out, _ = cli(capsys, "status", waiting.out, "--store", waiting.store_path)
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "pushed and confirmed" in rows[first] and "on ANIMATE/" in rows[first]
    assert "rejected" in rows[second] and "Dr A. Reviewer" in rows[second]


@pytest.mark.parametrize("args, words", [
    (["reject", "{study}", "--by", "R"], "needs a note"),
    (["approve", "NOBODY/nothing", "--by", "R"], "no study NOBODY/nothing"),
    (["approve", "--by", "R"], "name the studies"),
    (["approve", "{study}", "--by", " "], "say who signs off"),
])
def test_sign_offs_that_make_no_sense_are_refused_in_one_line(waiting, capsys, args, words):
    study = "/".join(waiting.study_dirs()[0].parts[-2:])
    args = [a.format(study=study) for a in args]
    code, out, err = cli(capsys, args[0], waiting.out, *args[1:], "--store", waiting.store_path)
    assert code != 0 and words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert all(row["verdict"] != "approved" for row in Store(waiting.store_path).sign_offs(TRIAL))


def test_a_study_that_failed_verification_cannot_be_approved(waiting, capsys):
    store = Store(waiting.store_path)
    [study] = [s for s in store.studies(TRIAL)][:1]
    store.set_studies(TRIAL, [(study["study_uid"], study["new_study_uid"], study["subject_id"],
                               "quarantined", study["files"], 1, "verification failed",
                               study["profile_hash"])])
    code, _, err = cli(capsys, "approve", waiting.out, "--all", "--by", "R",
                       "--store", waiting.store_path)
    assert code == 1 and "cannot be approved: a file failed verification" in err
    assert store.sign_offs(TRIAL) == []


def test_an_approval_holds_only_while_the_outputs_are_unchanged(planted, tmp_path, capsys):
    src = tmp_path / "delivery"
    shutil.copytree(planted.delivery, src)
    output = deidentify(planted, tmp_path / "site", approve=False)
    out, store = output.out, output.store_path
    run = lambda: deidentify_delivery(src, out, PROFILE, store=Store(store),  # noqa: E731
                                      lookup=str(planted.subjects_csv), resume=True,
                                      progress=False)
    run()  # the same delivery again (a resume of the same run)
    assert cli(capsys, "approve", out, "--all", "--by", "R", "--store", store)[0] == 0
    victim = next(output.study_dirs()[0].rglob("*.dcm"))
    victim.unlink()
    run()  # written again, the same bytes: still approved
    _, shown, _ = cli(capsys, "status", out, "--store", store)
    assert shown.count("approved") == 2
    ct = next(p for p in sorted(src.rglob("*.dcm")) if dcmread(p).Modality == "CT")
    extra = dcmread(ct)  # a slice the site sends late: the study's outputs change
    extra.SOPInstanceUID = extra.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    extra.InstanceNumber = 999
    extra.save_as(ct.with_name("late.dcm"))
    run()
    _, shown, _ = cli(capsys, "status", out, "--store", store)
    assert shown.count("approved") == 1 and "waiting for approval" in shown
    assert "changed after the approval" in shown


def test_qc_flags_reach_the_xnat_scans_quality_field(planted, xnat_server, tmp_path):
    from workbench.push import push_studies
    from workbench.widgets.qc import QCFlags

    from .conftest import connect

    output = deidentify(planted, tmp_path / "site")
    flags = QCFlags(output.store, TRIAL, output.out)
    flags.save_button.click()
    assert "choose a quality" in flags.message.value
    (study, series), box = next((k, b) for k, b in flags.choices.items()
                                if k[1].startswith("CT"))
    box.value = "unusable"
    flags.save_button.click()  # no reviewer yet
    assert "Not saved" in flags.message.value
    flags.reviewer.value = "Dr Q. Checker"
    flags.notes[(study, series)].value = "motion"
    flags.save_button.click()
    assert list(flags.table["flag"]) == ["unusable"]
    result = push_studies(output.out, PROFILE, store=output.store, url=xnat_server.url,
                          progress=False, receipts=tmp_path / "receipts")
    assert {o.status for o in result.outcomes} == {"uploaded"}
    number = series.split("_")[-1]
    with connect(xnat_server) as session:
        pushed = next(o for o in result.outcomes if o.study == study)
        experiment = session.projects[pushed.project].experiments[pushed.session_label]
        quality = {s.id: s.quality for s in experiment.scans.values()}
    assert quality[number] == "unusable"
    assert {q for n, q in quality.items() if n != number} <= {"usable", None, ""}


def test_a_study_that_failed_its_protocol_check_cannot_be_approved_or_pushed(
        waiting, planted, xnat_server, tmp_path, capsys):
    protocol = tmp_path / "thin-slices.yaml"
    protocol.write_text("name: thin-slices\nseries:\n  CT:\n    modality: CT\n"
                        "    ranges:\n      SliceThickness: [0.5, 1.0]\n")
    code, out, _ = cli(capsys, "validate", planted.delivery, "--protocol", protocol,
                       "--profile", PROFILE, "--store", waiting.store_path)
    assert code == 2 and "recorded for trial" in out
    code, out, _ = cli(capsys, "status", waiting.out, "--store", waiting.store_path)
    assert code == 0 and out.count("not approvable (protocol check failed)") == 2
    assert "SliceThickness" in out
    code, _, err = cli(capsys, "approve", waiting.out, "--all", "--by", "Dr A. Reviewer",
                       "--store", waiting.store_path)
    assert code != 0 and "protocol check failed" in err and "Traceback" not in err
    code, out = push(capsys, waiting, xnat_server, tmp_path)
    assert code == 2 and holdings(xnat_server) == {}
    # checked again against a protocol it fits, the studies can be approved
    protocol.write_text("name: any-ct\nseries:\n  CT:\n    modality: CT\n    required: false\n")
    code, out, _ = cli(capsys, "validate", planted.delivery, "--protocol", protocol,
                       "--profile", PROFILE, "--store", waiting.store_path)
    assert code == 0
    code, out, _ = cli(capsys, "approve", waiting.out, "--all", "--by", "Dr A. Reviewer",
                       "--store", waiting.store_path)
    assert code == 0 and out.count("approved by Dr A. Reviewer") == 2
