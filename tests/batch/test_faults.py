"""Faults: a worker raising, a worker process dying, the scheduler going away, a killed batch.

Each time the run says what happened, its record shows what was done, and the next
run completes the rest: the output equals that of one clean run, nothing twice.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from workbench.batch import BatchError, run_batch
from workbench.batch import dispatch
from workbench.batch.dispatch import process, process_chunk
from workbench.profile import load_profile
from workbench.store import Store

from .conftest import PROFILE, SECRET, ledger_states, outputs, settings_for


def crash_on(study_uid: str, how: str, tasks):
    """``process_chunk`` in a worker whose work on one study's files raises, or that exits."""
    if not any(t.study_uid == study_uid for t in tasks):
        return process_chunk(tasks)
    if how == "exit":
        os._exit(3)

    def failing(task):
        if task.study_uid == study_uid:
            raise OSError("disk controller reset")
        return process(task)

    dispatch.process = failing
    try:
        return process_chunk(tasks)
    finally:
        dispatch.process = process


class FaultyPool(ProcessPoolExecutor):
    """A process pool whose workers fail on the files of one study."""

    def __init__(self, study_uid: str, how: str) -> None:
        super().__init__(2)
        self.study_uid, self.how = study_uid, how
        self.sharing: set[str] = set()  # the studies sent in a chunk with the failing one

    def submit(self, fn, /, *args, **kwargs):
        if fn is process_chunk:
            studies = {t.study_uid for t in args[0]}
            if self.study_uid in studies:
                self.sharing |= studies - {self.study_uid}
            return super().submit(crash_on, self.study_uid, self.how, *args)
        return super().submit(fn, *args, **kwargs)


@pytest.fixture(scope="module")
def reference(delivery, tmp_path_factory):
    """One clean run: the output every interrupted batch must end up with."""
    settings = settings_for(delivery, tmp_path_factory.mktemp("reference"))
    run_batch(settings, secret=SECRET, progress=False)
    return outputs(Path(settings.output))


def assert_complete(settings, expected: dict[str, bytes]) -> None:
    out = Path(settings.output)
    assert outputs(out) == expected
    assert not list(out.parent.glob("*.superseded"))
    verified = Store(settings.store).verified_outputs(load_profile(PROFILE).trial_key)
    assert sorted(verified) == sorted(str(out / rel) for rel in expected)


def pet_ct(delivery) -> str:
    return next(s["study_uid"] for s in delivery.patients[1]["studies"] if "PETCT" in s["folder"])


def test_a_worker_raising_fails_its_study_only_and_the_next_run_retries_it(delivery, reference,
                                                                           tmp_path):
    settings = settings_for(delivery, tmp_path)
    with FaultyPool(pet_ct(delivery), "raise") as pool:
        first = run_batch(settings, secret=SECRET, progress=False, executor=pool)
    assert first.status == "failed"
    assert "1 study(ies) failed" in first.message
    [failed] = [r for r in first.rows if r.state == "failed"]
    assert failed.reason == "worker failed: OSError: disk controller reset"
    assert sum(r.state in ("verified", "quarantined") for r in first.rows) == 5
    assert pool.sharing  # small studies share chunks: the failing one had company, which finished
    with pytest.raises(BatchError, match="run the batch again"):
        first.raise_if_failed()
    manifest = json.loads((first.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["totals"]["failed"]["studies"] == 1

    second = run_batch(replace(settings, run_dir=str(tmp_path / "runs" / "second"), workers=2),
                       secret=SECRET, progress=False)
    assert second.status == "finished"
    retried = [r for r in second.rows if r.action.startswith("retry")]
    assert [(r.study_ref, r.action) for r in retried] == \
        [(failed.study_ref, "retry: failed in run first")]
    assert_complete(settings, reference)


def test_a_worker_process_dying_stops_the_run_and_the_next_run_completes_it(delivery, reference,
                                                                            tmp_path):
    settings = settings_for(delivery, tmp_path)
    with FaultyPool(pet_ct(delivery), "exit") as pool:
        with pytest.raises(BatchError, match=r"a worker process died \(BrokenProcessPool\).*"
                                             r"run the batch again"):
            run_batch(settings, secret=SECRET, progress=False, executor=pool)
    manifest = json.loads((Path(settings.run_dir) / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "worker process died" in manifest["message"]

    second = run_batch(replace(settings, run_dir=str(tmp_path / "runs" / "second")),
                       secret=SECRET, progress=False)
    assert second.status == "finished"
    assert any(r.action == "retry: failed in run first" for r in second.rows)
    assert_complete(settings, reference)


def test_the_scheduler_going_away_is_reported_and_the_next_run_completes(delivery, reference,
                                                                          tmp_path):
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                           dashboard_address=":0", host="127.0.0.1")
    settings = settings_for(delivery, tmp_path, scheduler=cluster.scheduler_address)
    finished = []

    def study_done(row):
        finished.append(row)
        if len(finished) == 1:
            cluster.close()

    try:
        with pytest.raises(BatchError, match="the Dask scheduler went away"):
            run_batch(settings, secret=SECRET, progress=False, scheduler_timeout=3,
                      on_study=study_done)
    finally:
        cluster.close()
    manifest = json.loads((Path(settings.run_dir) / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    done = [r for r in studies_csv(Path(settings.run_dir))
            if r["state"] in ("verified", "quarantined")]
    assert len(done) >= 1

    second = run_batch(replace(settings, scheduler="", workers=2,
                               run_dir=str(tmp_path / "runs" / "second")),
                       secret=SECRET, progress=False)
    assert second.status == "finished"
    assert sum(r.action.startswith("skip") for r in second.rows) == len(done)
    assert_complete(settings, reference)


def studies_csv(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "studies.csv", newline="") as f:
        return list(csv.DictReader(f))


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, found through /proc (the kernel has its own session)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += children.get(found[-1], [])
    return found


def kill_tree(pid: int) -> None:
    """Stop, then kill, a process and every descendant: a batch killed midway."""
    tree = process_tree(pid)
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for member in tree:
            try:
                os.kill(member, sig)
            except ProcessLookupError:
                pass


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_killed_batch_resumes_to_completion(delivery, tmp_path):
    store, out, runs = tmp_path / "state.sqlite", tmp_path / "out", tmp_path / "runs"
    command = [sys.executable, "-m", "workbench.cli", "batch", str(delivery.delivery), str(out),
               "--profile", PROFILE, "--store", str(store), "--runs", str(runs),
               "-p", "lookup", str(delivery.subjects_csv), "-p", "site", "SITE01",
               "-p", "workers", "1"]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    batch = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        while batch.poll() is None:  # stop it with a study done and the next one started
            states = ledger_states(store)
            if states.get("verified", 0) + states.get("quarantined", 0) >= 1 and \
                    states.get("running", 0) >= 1:
                break
            time.sleep(0.005)
        assert batch.poll() is None, "the batch finished before it could be stopped"
    finally:
        kill_tree(batch.pid)  # the command, its notebook kernel and any workers
        batch.wait()
    states = ledger_states(store)
    assert states.get("running", 0) >= 1
    [killed] = list(runs.glob("*/*"))
    manifest = json.loads((killed / "manifest.json").read_text())
    assert manifest["status"] == "running"  # the record shows the run never finished
    assert (killed / "studies.csv").read_text().count("\n") >= 2  # header + finished studies

    second = subprocess.run(command, env=env, capture_output=True, text=True)
    assert second.returncode == 2, second.stderr[-2000:]  # finished; PET-CT files held
    assert "batch finished" in second.stdout
    [resumed] = [p for p in runs.glob("*/*") if p != killed]
    rows = studies_csv(resumed)
    actions = {r["action"].split(":")[0] for r in rows}
    # finished studies are skipped, started ones retried, the rest done as new
    assert {"skip", "retry"} <= actions <= {"skip", "retry", "new"}
    assert all(r["action"] == f"retry: run {killed.name} stopped before finishing it"
               for r in rows if r["action"].startswith("retry"))

    secret = Store(store).trial_secret(load_profile(PROFILE).trial_key, create=False)
    clean = settings_for(delivery, tmp_path / "clean")
    run_batch(clean, secret=secret, progress=False)
    expected = outputs(Path(clean.output))
    assert outputs(out) == expected
    assert not list(out.rglob("*.partial"))
    verified = Store(store).verified_outputs(load_profile(PROFILE).trial_key)
    assert sorted(verified) == sorted(str(out / rel) for rel in expected)
