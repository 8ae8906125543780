"""Push throughput: ``workbench push`` against a bare ``requests.post`` of the same zips.

Generates an example delivery (10 patients, one CT series of 100 slices each, 512 x 512
by default; ``--ct-size 128`` for a quicker run), de-identifies it with a CT-only copy
of the ``uk-pet-core-lab`` profile (10 studies of 100 CT files), and starts a sandbox
XNAT on 127.0.0.1. Then, each in a fresh process so peak memory is its own:

* ``bare post``       the same one-study zips (written beforehand, not timed) sent with
                      ``requests.post`` to ``/data/services/import`` in project BARE;
* ``workbench push``  ``push_studies`` into project BENCH: verification check, zipping,
                      upload, confirmation (listing and MD5 comparison) and receipts.

Prints files/s and MB/s of both, their ratio (target: push at least 0.7 x bare) and
the peak RSS of each client (target for the push: at most 200 MB).

    python bench/push_throughput.py [--ct-size 512] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

USER, PASSWORD = "bench", "bench-password"
PROFILE = """\
name: bench-ct
title: Push benchmark (uk-pet-core-lab, CT only)
base: uk-pet-core-lab
select:
  modality: [CT]
trial:
  xnat_project: BENCH
"""


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_push(work: Path, url: str) -> dict:
    """Run the push in this process; return its measurements."""
    from workbench.push import push_studies
    from workbench.store import Store

    start = time.perf_counter()
    result = push_studies(work / "out", work / "bench-ct.yaml", store=Store(work / "state.sqlite"),
                          url=url, receipts=work / "receipts", progress=False)
    seconds = time.perf_counter() - start
    statuses = sorted(set(result.table["status"]))
    confirmed = sorted(set(result.table["confirmed_by"]))
    if statuses != ["uploaded"]:
        raise SystemExit(f"push did not upload everything: {result.table.to_string()}")
    return {"seconds": seconds, "files": int(result.table["files"].sum()),
            "bytes": sum(o.bytes for o in result.outcomes), "peak_mb": _peak_mb(),
            "confirmed_by": confirmed}


def child_bare(work: Path, url: str) -> dict:
    """Post every zip of ``work/zips`` with requests; return the measurements."""
    import requests

    zips = json.loads((work / "zips.json").read_text())
    session = requests.Session()
    session.auth = (USER, PASSWORD)
    start = time.perf_counter()
    for n, entry in enumerate(zips):
        with open(entry["zip"], "rb") as handle:
            response = session.post(
                f"{url}/data/services/import", data=handle, timeout=(10, 600),
                headers={"Content-Type": "application/zip"},
                params={"project": "BARE", "subject": f"S{n:02d}", "session": f"E{n:02d}",
                        "import-handler": "DICOM-zip", "dest": "/archive",
                        "overwrite": "none"})
        response.raise_for_status()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "files": sum(e["files"] for e in zips),
            "bytes": sum(e["bytes"] for e in zips), "peak_mb": _peak_mb()}


def prepare(work: Path, ct_size: int) -> None:
    """Generate, de-identify and zip the studies (not timed)."""
    from workbench.deid.run import deidentify_delivery
    from workbench.examples import generate
    from workbench.profile import load_profile
    from workbench.push.local import find_studies, write_zip
    from workbench.store import Store

    print(f"generating 10 patients x 100 CT slices of {ct_size} x {ct_size} ...", flush=True)
    planted = generate(work / "example", patients=10, seed=7, ct_slices=100, ct_size=ct_size)
    (work / "bench-ct.yaml").write_text(PROFILE)
    print("de-identifying (CT only) ...", flush=True)
    store = Store(work / "state.sqlite")
    deidentify_delivery(planted.delivery, work / "out", work / "bench-ct.yaml", store=store,
                        lookup=str(planted.subjects_csv), progress=False)
    profile = load_profile(work / "bench-ct.yaml")
    studies = find_studies((work / "out").resolve(), store.verified_outputs(profile.trial_key),
                           profile.hash)
    if len(studies) != 10 or any(len(s.files) != 100 or s.refused for s in studies):
        raise SystemExit(f"expected 10 verified studies of 100 files, got "
                         f"{[(s.name, len(s.files), s.refused) for s in studies]}")
    (work / "zips").mkdir()
    entries = []
    for n, study in enumerate(studies):
        target = work / "zips" / f"study{n:02d}.zip"
        write_zip(study, target)
        entries.append({"zip": str(target), "files": len(study.files), "bytes": study.size})
    (work / "zips.json").write_text(json.dumps(entries))


def run_child(kind: str, work: Path, *options: str) -> dict:
    """Run ``--child kind`` in a fresh process and return the JSON it prints last."""
    env = {**os.environ, "XNAT_USER": USER, "XNAT_PASSWORD": PASSWORD, "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, __file__, "--child", kind, "--work", str(work),
                           *options], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_sandbox(work: Path) -> tuple[subprocess.Popen, str]:
    """Run ``workbench.sandbox`` in its own process; return it and its URL."""
    log = work / "sandbox.log"
    with open(log, "w") as handle:
        server = subprocess.Popen(
            [sys.executable, "-m", "workbench.sandbox", "--data", str(work / "sandbox"),
             "--port", "0", "--user", f"{USER}:{PASSWORD}", "--project", f"BENCH:{USER}",
             "--project", f"BARE:{USER}"], stderr=handle)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        match = re.search(r"Sandbox XNAT at (\S+)", log.read_text())
        if match:
            return server, match[1]
        time.sleep(0.1)
    server.kill()
    raise SystemExit(f"the sandbox did not start:\n{log.read_text()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ct-size", type=int, default=512)
    parser.add_argument("--work", type=Path, help="empty work folder (default: a temporary one)")
    parser.add_argument("--child", choices=["prepare", "push", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "prepare":
        prepare(args.work, args.ct_size)
        print("{}")
        return
    if args.child:
        measure = child_push if args.child == "push" else child_bare
        print(json.dumps(measure(args.work, args.url)))
        return

    # This process stays small: on Linux a child's peak RSS starts from its parent's.
    with tempfile.TemporaryDirectory(prefix="push-bench-") as tmp:
        work = (args.work or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        run_child("prepare", work, "--ct-size", str(args.ct_size))
        server, url = start_sandbox(work)
        try:
            print(f"sandbox XNAT at {url}; pushing ...", flush=True)
            rows = {"bare post": run_child("bare", work, "--url", url),
                    "workbench push": run_child("push", work, "--url", url)}
        finally:
            server.terminate()
            server.wait(30)
    print(f"\n{'variant':16}{'files':>7}{'seconds':>9}{'files/s':>9}{'MB/s':>8}{'peak MB':>9}")
    for name, row in rows.items():
        mb = row["bytes"] / 1e6
        print(f"{name:16}{row['files']:>7}{row['seconds']:>9.2f}"
              f"{row['files'] / row['seconds']:>9.1f}{mb / row['seconds']:>8.1f}"
              f"{row['peak_mb']:>9.0f}")
    bare, push = rows["bare post"], rows["workbench push"]
    ratio = (push["files"] / push["seconds"]) / (bare["files"] / bare["seconds"])
    print(f"\npush / bare post: {ratio:.2f}x (target >= 0.7x; push includes confirmation by "
          f"{', '.join(push['confirmed_by'])})")
    print(f"push client peak memory: {push['peak_mb']:.0f} MB (target <= 200 MB)")
    print(f"data: 10 studies x 100 CT files of {args.ct_size} x {args.ct_size}, "
          f"{push['bytes'] / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
