"""A run's files kept on disk: records and outcomes come back as they went in; tasks by study."""

from __future__ import annotations

from itertools import groupby

from workbench.catalog import Instance, Skipped, files_under, read_header
from workbench.deid.delivery import Delivery, Outcome
from workbench.deid.run import deidentify_delivery, process
from workbench.store import Store

SECRET = b"delivery-test-secret-0123456789abcdef"


def test_records_and_outcomes_come_back_as_they_went_in(bad_delivery):
    records = [read_header(p) for p in files_under(bad_delivery.delivery)]
    assert {type(r) for r in records} == {Instance, Skipped}
    assert any(not r.patient_name.isascii() for r in records if isinstance(r, Instance))
    files = Delivery()
    files.add_all((r, "") for r in records)
    assert [r for _, r in files.records()] == records
    assert list(files.instances()) == [r for r in records if isinstance(r, Instance)]
    outcomes = [Outcome("/a", "1.2", "written", "S/x/IMG1.dcm", None, "2.25.1", "2.25.2", 10, 7,
                        "ab" * 32),
                Outcome("/b", "1.2", "quarantined", None, "needs pixel review: burned in")]
    for o in outcomes:
        files.add_outcome(o)
    assert list(files.outcomes()) == outcomes
    assert list(files.outcomes("quarantined")) == outcomes[1:]


def test_tasks_come_study_by_study_and_every_file_is_accounted_for(bad_delivery, tmp_path):
    taken = []

    def dispatch(tasks, total):
        for task in tasks:
            taken.append(task)
            yield process(task)

    report = deidentify_delivery(bad_delivery.delivery, tmp_path / "out", "uk-pet-core-lab",
                                 store=Store(tmp_path / "s.sqlite"), secret=SECRET,
                                 lookup=str(bad_delivery.subjects_csv), site="SITE01",
                                 progress=False, dispatch=dispatch)
    studies = [uid for uid, _ in groupby(t.study_uid for t in taken)]
    assert len(studies) == len(set(studies)) > 1  # each study's files together, once
    outcomes = report.outcomes
    assert [o.source for o in outcomes if o.source in {t.source for t in taken}] == \
        [t.source for t in taken]
    every = set(files_under(bad_delivery.delivery))
    accounted = ({o.source for o in outcomes} | {s.path for s in report.skipped}
                 | {copy for copy, _ in report.duplicates})
    assert accounted == every and len(outcomes) + len(report.skipped) + len(
        report.duplicates) == len(every)
    assert sum(r["files"] for r in report.studies) == len([o for o in outcomes if o.study_uid])
    assert report.quarantined == [o for o in outcomes if o.state == "quarantined"]
