"""Pause, resume and cancel between studies; retry of what was not pushed."""

from __future__ import annotations

import threading
import time

from support import expected_holdings, holdings
from workbench.push import PushController



def test_cancel_between_studies_then_retry(push, xnat_server, output):
    control = PushController()
    result = push(controller=control, on_study=lambda outcome: control.cancel())
    assert list(result.table["status"]) == ["uploaded", "cancelled"]
    assert result.outcomes[1].reason == "push cancelled before this study"
    assert result.exit_code == 2
    assert len(holdings(xnat_server)) == 1
    retried = result.retry_failed()
    assert [o.study for o in retried.outcomes] == [result.outcomes[1].study]
    assert retried.outcomes[0].status == "uploaded" and retried.exit_code == 0
    assert holdings(xnat_server) == expected_holdings(output)
    leftovers = sorted(p.name for p in output.out.parent.iterdir() if ".push-" in p.name)
    assert leftovers == [], "the zips made ahead of a cancelled study were left on disk"


def test_pause_holds_the_next_study_until_resumed(push, xnat_server, output):
    control = PushController()
    results = []
    worker = threading.Thread(target=lambda: results.append(
        push(controller=control, on_study=lambda outcome: control.pause())))
    worker.start()
    deadline = time.monotonic() + 30
    while not control.waiting and time.monotonic() < deadline:
        time.sleep(0.01)
    assert control.waiting and control.paused
    time.sleep(0.2)
    assert len(holdings(xnat_server)) == 1
    control.resume()  # the second study pauses again, but no study is left to hold
    worker.join(30)
    assert not worker.is_alive()
    assert list(results[0].table["status"]) == ["uploaded", "uploaded"]
    assert holdings(xnat_server) == expected_holdings(output)


def test_cancel_ends_a_pause():
    control = PushController()
    control.pause()
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(control.checkpoint()))
    worker.start()
    while not control.waiting:
        time.sleep(0.01)
    control.cancel()
    worker.join(5)
    assert outcome == [False] and not control.waiting
