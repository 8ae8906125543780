"""The main job end to end on example data, against a sandbox XNAT it starts itself.

``workbench demo DIR`` (and ``make demo``): write an example delivery, de-identify
it with ``uk-pet-core-lab``, verify it again independently, approve the studies
(the gate: nothing leaves the site unapproved), push them to a sandbox XNAT (a
stand-in for tests and demos), confirm them on the server and print the
server-side listing. Each step prints the command that does the same on its own.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .approval import APPROVED, sign
from .deid.run import deidentify_delivery
from .errors import WorkbenchError
from .examples import generate
from .profile import load_profile
from .push import push_studies
from .push.listing import server_listing
from .sandbox import SandboxServer
from .store import Store
from .verify_delivery import verify_delivery

PROFILE = "uk-pet-core-lab"
PROJECT = "ANIMATE"
USER, PASSWORD = "demo", "demo-password"


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def run_demo(folder: str | os.PathLike, patients: int = 3, progress: bool = True) -> int:
    """Run the demo in ``folder`` (replaced if it exists); return 0 when every study arrived.

    ``folder`` receives ``example/`` (the delivery and its lookup tables), ``out/``
    (de-identified), ``out.quarantine/``, ``out.receipts/``, ``state/`` (the site's
    store) and ``xnat/`` (the sandbox's data).
    """
    root = Path(folder).resolve()
    if root.exists():
        shutil.rmtree(root)
    store = Store(root / "state" / "workbench.sqlite")
    out = root / "out"

    _step(f"workbench examples {root / 'example'} --patients {patients}")
    planted = generate(root / "example", patients=patients)
    print(f"{len(planted.patients)} patients with planted fake identifiers in {planted.delivery}")

    _step(f"workbench deid {planted.delivery} {out} --profile {PROFILE} "
          f"--lookup {planted.subjects_csv}")
    report = deidentify_delivery(planted.delivery, out, PROFILE, store=store,
                                 lookup=str(planted.subjects_csv), progress=progress)
    print("\n".join(report.lines()))

    _step(f"workbench verify {planted.delivery} {out} --profile {PROFILE}")
    verification = verify_delivery(planted.delivery, out, PROFILE, store=store)
    print("\n".join(verification.lines()))
    if verification.exit_code:
        raise WorkbenchError("independent verification failed; nothing is pushed.")

    reviewer, note = "Demo Reviewer", "demo: planted identifiers checked in the tag diff"
    _step(f"workbench approve {out} --all --by '{reviewer}' --note '{note}'   (a person's "
          "sign-off; without it nothing is pushed)")
    for study in sign(store, load_profile(PROFILE).trial_key, out, [], APPROVED, reviewer, note,
                      every=True):
        print(f"{study.folder}: {study.state} by {study.by} at {study.at}")

    _step(f"workbench sandbox --data {root / 'xnat'} --port 0 --user {USER}:... "
          f"--project {PROJECT}:{USER}")
    with SandboxServer(root / "xnat", users={USER: PASSWORD}) as server:
        server.create_project(PROJECT, owner=USER)
        print(f"sandbox XNAT at {server.url} (a stand-in for demos, not a home for real data)")

        _step(f"workbench push {out} --profile {PROFILE} --xnat {server.url}")
        result = push_studies(out, PROFILE, store=store, url=server.url,
                              login=(USER, PASSWORD), progress=progress)
        print(result.table.to_string(index=False))
        print(f"receipts: {result.receipt_csv} and {result.receipt_json.name}")

        _step(f"workbench listing --xnat {server.url} --project {PROJECT}   (read back from "
              "the server)")
        listing = server_listing(server.url, PROJECT, login=(USER, PASSWORD))
        print(listing.to_string(index=False))
    arrived = int(listing["files"].sum())
    sent = int(result.table["files"].sum())
    print(f"\n{len(result.table)} studies pushed and confirmed by "
          f"{', '.join(sorted(set(result.table['confirmed_by'])))}; the server holds "
          f"{arrived} of {sent} files")
    return 0 if result.exit_code == 0 and arrived == sent else 2
