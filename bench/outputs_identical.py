"""Prove a refactor changed no output: every shipped profile, before and after, byte for byte.

    python bench/outputs_identical.py [REVISION]   (default HEAD)

"Before" is REVISION's code, checked out in a temporary ``git worktree``; "after" is this
working tree. Each side runs ``workbench deid`` with every shipped profile (by name, so
each finds its own profiles folder, wherever that revision keeps it) over (a) the example
delivery and (b) pydicom's test files (pydicom-data's too when installed), with the same
trial secret, site and lookup table (the example's own, or one made for pydicom's files by
``workbench lookup-template``). Every output and quarantined file is compared by
SHA-256. Prints one row per profile and source; exits 1 if anything differs.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

AFTER = Path(__file__).resolve().parents[1]
SECRET = b"outputs-identical-trial-secret-0123456789abcdef"
CLI = "import sys; from workbench.cli import main; sys.exit(main(sys.argv[1:]))"
#: Profiles whose lookup table is keyed on the Accession Number (the rest: PatientID).
BY_EVENT = {"ltp2-jpl"}


def run(code: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``workbench ARGS`` with the package of ``code`` (run from there, so it comes first)."""
    env = {**os.environ, "PYTHONPATH": str(code), "TQDM_DISABLE": "1"}
    env.pop("WORKBENCH_PROFILE_PATH", None)
    return subprocess.run([sys.executable, "-c", CLI, *args], cwd=code, env=env,
                          capture_output=True, text=True, check=check)


def profiles(code: Path) -> set[str]:
    return {line.split()[0] for line in run(code, "profiles", "list").stdout.splitlines()
            if line.strip()}


def digests(folder: Path, work: Path) -> dict[str, str]:
    """SHA-256 of each file under ``folder``, the run's own folder in it (the quarantine
    list names where it put each file) written as ``<run>``."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(
                p.read_bytes().replace(str(work).encode(), b"<run>")).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def deid(code: Path, src: Path, work: Path, profile: str, lookup: Path,
         secret: Path) -> tuple[int, dict[str, str], str]:
    """The run's exit code, the digest of every file it wrote (outputs and quarantine), and
    the last line it printed on stderr."""
    work.mkdir(parents=True)
    done = run(code, "deid", str(src), str(work / "out"), "--profile", profile,
               "--trial-secret-file", str(secret), "--lookup", str(lookup), "--site", "SITE01",
               "--store", str(work / "state.sqlite"), check=False)
    files = {}
    for name in ("out", "out.quarantine"):
        if (work / name).is_dir():
            files.update({f"{name}/{k}": v for k, v in digests(work / name, work).items()})
    return done.returncode, files, (done.stderr.strip().splitlines() or [""])[-1]


def filled_lookup(profile: str, src: Path, dest: Path, planted: Path) -> Path:
    """A lookup table for ``src`` (``workbench lookup-template``, every blank filled in);
    the planted one for profiles that take no lookup."""
    if run(AFTER, "lookup-template", "--profile", profile, "-o", str(dest), str(src),
           check=False).returncode or not dest.is_file():
        return planted
    with dest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for n, row in enumerate(rows, 1):
        row.update({k: "SITE01" if k == "site_id" else f"{k.upper()}-{n:04}"
                    for k, v in row.items() if not v and not k.startswith("info_")})
    with dest.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
    return dest


def pydicom_files(dest: Path) -> Path:
    """pydicom's test files (pydicom-data's included when installed), copied under ``dest``."""
    from pydicom.data import get_testdata_files

    files = [Path(f) for f in get_testdata_files() if Path(f).is_file()]
    roots = {f.parent for f in files}
    root = Path(os.path.commonpath(sorted(roots)))
    for f in files:
        target = dest / f.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    return dest


def main(revision: str = "HEAD") -> int:
    with tempfile.TemporaryDirectory(prefix="outputs-identical-") as tmp:
        tmp = Path(tmp)
        before = tmp / "before-code"
        subprocess.run(["git", "-C", str(AFTER), "worktree", "add", "--detach", "--quiet",
                        str(before), revision], check=True)
        try:
            (tmp / "secret").write_bytes(SECRET)
            example = tmp / "example"
            subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                            "from workbench.examples import generate; generate(Path(sys.argv[1]),"
                            " patients=3, seed=0, ct_slices=12, ct_size=128)", str(example)],
                           cwd=AFTER, env={**os.environ, "PYTHONPATH": str(AFTER)}, check=True)
            sources = {"example": example / "delivery",
                       "pydicom": pydicom_files(tmp / "pydicom")}
            names = profiles(before) | profiles(AFTER)
            return compare(tmp, before, sorted(names), sources, example)
        finally:
            subprocess.run(["git", "-C", str(AFTER), "worktree", "remove", "--force",
                            str(before)], check=False)


def compare(tmp: Path, before: Path, names: list[str], sources: dict[str, Path],
            example: Path) -> int:
    print(f"{'profile':20}{'source':10}{'files':>7}{'identical':>11}{'different':>11}"
          f"{'only-before':>13}{'only-after':>12}{'exit codes':>12}")
    differ = 0
    for profile in names:
        planted = example / ("events.csv" if profile in BY_EVENT else "subjects.csv")
        for source, src in sources.items():
            lookup = planted if source == "example" else filled_lookup(
                profile, src, tmp / f"lookup-{profile}-{source}.csv", planted)
            runs = tmp / "runs" / f"{profile}-{source}"
            code_old, old, err_old = deid(before, src, runs / "before", profile, lookup,
                                          tmp / "secret")
            code_new, new, err_new = deid(AFTER, src, runs / "after", profile, lookup,
                                          tmp / "secret")
            both = old.keys() & new.keys()
            same = sum(old[k] == new[k] for k in both)
            only_old, only_new = sorted(old.keys() - new.keys()), sorted(new.keys() - old.keys())
            print(f"{profile:20}{source:10}{len(both):>7}{same:>11}{len(both) - same:>11}"
                  f"{len(only_old):>13}{len(only_new):>12}{f'{code_old}/{code_new}':>12}")
            for k in sorted(k for k in both if old[k] != new[k])[:5] + (only_old + only_new)[:5]:
                print(f"    differs: {k}")
            if code_old != code_new:
                print(f"    before: {err_old}\n    after: {err_new}")
            differ += len(both) - same + len(only_old) + len(only_new) + (code_old != code_new)
    print("all outputs identical" if not differ else f"{differ} difference(s)")
    return 1 if differ else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", nargs="?", default="HEAD",
                        help="the revision whose outputs count as before (default HEAD)")
    sys.exit(main(parser.parse_args().revision))
