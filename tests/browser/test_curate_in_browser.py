"""The curation app of 10_curate in JupyterLab, in a real browser, against sandbox XNATs.

Two runs of the notebook, each pushing to its own sandbox XNAT (started here, read back
through xnatpy). The first goes from the folder to a confirmed push in three actions:
De-identify, Approve, push. The second unticks a series after a de-identification run
(withdrawn once confirmed), rejects a study, approves the rest and pushes: the server
then lacks that series and that study. Screenshots of each step go to
test-output/browser/.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from pathlib import Path

import nbformat
import pytest
import xnat

from workbench.profile import load_profile
from workbench.sandbox import SandboxServer

from .conftest import REPO
from .lab import BROWSER_TEST, KERNEL_MS, chromium, jupyter_lab, run_all

pytestmark = BROWSER_TEST

CURATE = "10_curate.ipynb"
REVIEWER = "Dr B. Rowser"
PROFILE = "uk-pet-core-lab"
STEP_MS = 180_000
USER = "curator"


def _notebook(root: Path, name: str, work: Path, url: str) -> str:
    """A copy of 10_curate with this run's parameters injected (as papermill does)."""
    nb = nbformat.read(REPO / "notebooks" / CURATE, as_version=4)
    values = {"work_dir": str(work), "store_path": str(work / "state.sqlite"),
              "sandbox": False, "xnat_url": url, "reviewer": REVIEWER,
              "deidentify_now": False, "push_now": False}
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(
        "\n".join(f"{k} = {v!r}" for k, v in values.items()),
        metadata={"tags": ["injected-parameters"]}))
    nbformat.write(nb, root / name)
    return name


def _sessions(url: str, password: str, project: str) -> dict[str, list[str]]:
    """Per session label on the server: its scans as "MODALITY xFRAMES", sorted (the
    profile removes series descriptions)."""
    with xnat.connect(url, user=USER, password=password, loglevel="ERROR") as session:
        experiments = session.projects[project].experiments.values()
        return {e.label: sorted(f"{s.modality} x{s.frames}" for s in e.scans.values())
                for e in experiments}


def _open(page, lab, name: str):
    """Open a notebook in a workspace of its own, run it all, return the app's element."""
    page.goto(lab.url(f"lab/workspaces/{Path(name).stem}/tree/{name}"))
    page.locator(".jp-Notebook").wait_for(timeout=KERNEL_MS)
    run_all(page)
    app = page.locator(".wb-curation-app")
    app.wait_for(timeout=KERNEL_MS)
    return app


def _states(app) -> str:
    return app.locator(".wb-study-states").inner_text()


def _shot(page, element, path: Path) -> None:
    """A screenshot of the page with ``element`` in view (the app is taller than a page)."""
    element.scroll_into_view_if_needed()
    page.screenshot(path=path)


def _wait_text(app, selector: str, pattern: str) -> None:
    """Wait for ``pattern`` in the app's element; fail with what the app says instead."""
    try:
        app.locator(selector).filter(has_text=re.compile(pattern)).wait_for(timeout=STEP_MS)
    except Exception:
        said = app.locator(".wb-next-step").inner_text()
        raise AssertionError(f"no {pattern!r} in {selector}; the app says: {said}") from None


@pytest.fixture
def servers(tmp_path: Path):
    """Two sandbox XNATs with the profile's project, and the curator's password for both."""
    password = secrets.token_urlsafe(16)
    project = load_profile(PROFILE).trial["xnat_project"]
    started = []
    for name in ("first", "second"):
        server = SandboxServer(tmp_path / f"xnat-{name}", users={USER: password}).start()
        server.create_project(project, owner=USER)
        started.append(server)
    yield started, password, project
    for server in started:
        server.stop()


def test_curation_app_in_chromium_three_actions_withdraw_and_reject(
        tmp_path, screenshots: Path, servers, monkeypatch):
    (first, second), password, project = servers
    monkeypatch.setenv("XNAT_USER", USER)  # the kernels' login, from the lab's environment
    monkeypatch.setenv("XNAT_PASSWORD", password)
    root, home = tmp_path / "lab", tmp_path / "home"
    root.mkdir()
    home.mkdir()
    plain = _notebook(root, "curate_plain.ipynb", tmp_path / "plain", first.url)
    careful = _notebook(root, "curate_careful.ipynb", tmp_path / "careful", second.url)
    with jupyter_lab(root, home, screenshots / "jupyterlab-curate.log") as lab, \
            chromium(tmp_path / "chromium-profile", height=2400) as page:
        page.keyboard.press("Control+b")

        # Three actions: De-identify, Approve, push.
        app = _open(page, lab, plain)
        _shot(page, app, screenshots / "curate_01_ready.png")
        app.get_by_role("button", name="De-identify").click()  # 1
        _wait_text(app, ".wb-study-states", "waiting for approval")
        studies = _states(app).count("waiting for approval")
        assert studies >= 3
        _shot(page, app.locator(".wb-study-states"), screenshots / "curate_02_deidentified.png")
        app.get_by_role("button", name="Approve").click()  # 2
        _wait_text(app, ".wb-study-states", "approved")
        assert REVIEWER in _states(app) and "waiting for approval" not in _states(app)
        _shot(page, app.locator(".wb-study-states"), screenshots / "curate_03_approved.png")
        app.locator(".wb-push").click()  # 3
        _wait_text(app, ".wb-push-status", rf"Done: {studies} uploaded")
        _shot(page, app.locator(".wb-push-results"), screenshots / "curate_04_pushed.png")
        everything = _sessions(first.url, password, project)
        assert len(everything) == studies and all(everything.values())
        for kernel in lab.api("GET", "kernels").json():  # one kernel at a time on 2 cores
            lab.api("DELETE", f"kernels/{kernel['id']}")

        # Untick a series after a run, reject a study, approve the rest, push.
        app = _open(page, lab, careful)
        app.get_by_role("button", name="De-identify").click()
        _wait_text(app, ".wb-study-states", "waiting for approval")
        ticked = app.locator(".wb-series-checkbox input:checked").first
        label = app.locator(".wb-series-checkbox", has=page.locator("input:checked")).first \
            .inner_text()
        unticked = "{} x{}".format(*re.match(r"(\w+) .*\[(\d+) instance", label).groups())
        ticked.click()
        app.get_by_role("button", name="De-identify").click()  # refused: not confirmed
        _wait_text(app, ".wb-next-step", "unticked now")
        _shot(page, app.locator(".wb-next-step"),
              screenshots / "curate_05_unticked_needs_confirmation.png")
        app.get_by_text("withdraw the output of series unticked since a run", exact=True).click()
        app.get_by_role("button", name="De-identify").click()
        _wait_text(app, ".wb-next-step", "Review the studies")
        assert (tmp_path / "careful" / "out.withdrawn").is_dir()

        chosen = app.locator(".wb-chosen-studies select")
        folders = chosen.locator("option").all_inner_texts()
        rejected = folders[-1]
        chosen.select_option([rejected])
        app.get_by_placeholder("what you looked at, or why you reject").fill(
            "wrong patient on the PET requisition")
        app.get_by_role("button", name="Reject").click()
        _wait_text(app, ".wb-study-states", "rejected")
        chosen.select_option([f for f in folders if f != rejected])
        app.get_by_placeholder("what you looked at, or why you reject").fill("headers read")
        app.get_by_role("button", name="Approve").click()
        _wait_text(app, ".wb-study-states", "approved")
        _shot(page, app.locator(".wb-study-states"),
              screenshots / "curate_06_one_rejected_rest_approved.png")
        app.locator(".wb-push").click()
        _wait_text(app, ".wb-push-status",
                   rf"Done: {studies - 1} uploaded, 0 already present, 0 not pushed, 1 held")
        _shot(page, app.locator(".wb-push-results"),
              screenshots / "curate_07_pushed_without_the_rejected.png")
        assert "held" in app.locator(".wb-push-results").inner_text()

    # Session labels carry each run's own date shift: compare the runs by subject.
    pushed = _by_subject(_sessions(second.url, password, project))
    everything = _by_subject(everything)
    assert set(pushed) == set(everything) - {rejected.split("/")[0]}  # the rejected is not there
    lost = {subject: sorted((Counter(everything[subject]) - Counter(scans)).elements())
            for subject, scans in pushed.items() if scans != everything[subject]}
    assert list(lost.values()) == [[unticked]]  # the unticked series, and nothing else
    assert len(list(screenshots.glob("curate_*.png"))) == 7


def _by_subject(sessions: dict[str, list[str]]) -> dict[str, list[str]]:
    """Sessions by subject ID (a label is SUBJECT_DATE, one study per subject here)."""
    found = {label.rsplit("_", 1)[0]: scans for label, scans in sessions.items()}
    assert len(found) == len(sessions)
    return found
