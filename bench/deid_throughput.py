"""De-identification throughput against peers on the same 1000 CT files.

Generates an example delivery (512x512 CT), then times, each in a fresh
process so peak memory is its own:

* ``plain``        a pydicom read-and-write loop (the floor any tool pays),
* ``dicognito``    dicognito's Anonymizer over the same files,
* ``engine``       the workbench engine alone (read, de-identify, write), one process,
* ``workbench-1``  ``deidentify_delivery`` with verification, 1 worker,
* ``workbench-2``  the same with 2 worker processes,
* ``workbench-1-small``  1 worker on a quarter of the files (memory must stay flat),
* ``gdcmanon``     GDCM's ``gdcmanon`` (PS3.15 basic profile in C++), a whole process,
* ``cli-1``, ``cli-2``  ``workbench deid`` with verification, whole processes, 1 and 2
  workers, timed the same way as ``gdcmanon`` (start-up and imports included),
* ``stages``       one worker's steps, each timed alone (CPU ms per file by stage).

``gdcmanon`` comes from Debian's ``libgdcm-tools``; it encrypts the removed
attributes, so the benchmark makes a throw-away certificate with ``openssl req -x509``.
Without ``gdcmanon`` or ``openssl`` those rows are left out.

Prints files per second, CPU time per file (all processes of the variant; less
sensitive than wall time to other load on the machine), ratios and peak RSS (MB)
per process. Each variant runs ``--repeat`` times, in rounds over all of them (every
other round in reverse order, so no variant always runs after the others); its
fastest run counts. Outputs stay on disk until the end (about 0.5 GB per run): on
ext4, files created soon after thousands were deleted take longer to create (the
allocator steps over recently freed inodes), and no variant may pay for another.

    python bench/deid_throughput.py [--files 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


VARIANTS = ("plain", "dicognito", "engine", "workbench-1", "workbench-2", "workbench-1-small",
            "gdcmanon", "cli-1", "cli-2", "stages")
STAGES = ("catalog", "read", "identity", "de-identify", "encode", "pixels", "verify", "write")
WHOLE_PROCESS = ("gdcmanon", "cli-1", "cli-2")


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _files(src: Path) -> list[Path]:
    return sorted(p for p in src.rglob("*") if p.is_file())


def whole_process(name: str, src: Path, out: Path, cert: Path) -> dict:
    """Run one command-line variant as a child process and measure it from outside."""
    if name == "gdcmanon":
        cmd = ["gdcmanon", "-e", "-c", str(cert), "-r", "--continue", "-i", str(src),
               "-o", str(out)]
        out.mkdir(parents=True)
    else:
        cmd = [str(Path(sys.executable).parent / "workbench"), "deid", str(src), str(out),
               "--profile", "ps315-basic", "--store", str(out.parent / f"{out.name}.db"),
               "--workers", name.split("-")[1]]
    cpu0 = _cpu_seconds(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{name} failed ({done.returncode}): {done.stderr[-1000:]}")
    files = len(_files(src))
    cpu = _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu0
    return {"variant": name, "files": files, "seconds": seconds, "files_per_s": files / seconds,
            "cpu_ms": 1000 * cpu / files, "peak_mb": _peak_mb(resource.RUSAGE_CHILDREN),
            "worker_peak_mb": 0.0}


def _certificate(root: Path) -> Path | None:
    """A throw-away self-signed certificate for gdcmanon, or None without the tools."""
    if not (shutil.which("gdcmanon") and shutil.which("openssl")):
        return None
    cert = root / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(root / "key.pem"), "-out", str(cert), "-days", "1", "-subj", "/CN=bench"],
                   check=True, capture_output=True)
    return cert


def variant(name: str, src: Path, out: Path) -> dict:
    """Run one variant in this process and return its measurements (imports not timed)."""
    from pydicom import dcmread

    from workbench.deid.engine import Engine, Subject
    from workbench.deid.files import read_source, source_pixels, write_output
    from workbench.deid.run import deidentify_delivery
    from workbench.profile import load_profile
    from workbench.store import Store

    if name == "dicognito":
        from dicognito.anonymizer import Anonymizer

    files = _files(src)
    out.mkdir(parents=True, exist_ok=True)
    cpu0 = _cpu_seconds(resource.RUSAGE_SELF)
    start = time.perf_counter()
    if name == "plain":
        for i, f in enumerate(files):
            dcmread(f).save_as(out / f"{i}.dcm")
    elif name == "dicognito":
        anonymizer = Anonymizer(seed="bench")
        for i, f in enumerate(files):
            ds = dcmread(f)
            anonymizer.anonymize(ds)
            ds.save_as(out / f"{i}.dcm")
    elif name == "engine":
        engine = Engine(load_profile("ps315-basic"), b"bench-secret-0123456789abcdef")
        subject = Subject("SUBJ-0001", -400)
        for i, f in enumerate(files):
            source = read_source(str(f))
            header = engine.to_bytes(engine.deidentify(source.dataset, subject))
            write_output(out / f"{i}.dcm", header + source_pixels(source)[0])
    elif name == "stages":
        return {"variant": name, "files": len(files), "stages": stages(files, out),
                "seconds": 1.0, "files_per_s": 0.0, "cpu_ms": 0.0, "peak_mb": 0.0,
                "worker_peak_mb": 0.0}
    else:
        workers = int(name.split("-")[1])
        report = deidentify_delivery(src, out, "ps315-basic",
                                     store=Store(out.parent / f"{name}.db"), workers=workers,
                                     progress=False)
        bad = report.quarantined
        if bad:
            raise SystemExit(f"{name}: {len(bad)} quarantined: {bad[0].reason}")
    seconds = time.perf_counter() - start
    cpu = sum(_cpu_seconds(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return {"variant": name, "files": len(files), "seconds": seconds,
            "files_per_s": len(files) / seconds, "cpu_ms": 1000 * (cpu - cpu0) / len(files),
            "peak_mb": _peak_mb(resource.RUSAGE_SELF),
            "worker_peak_mb": _peak_mb(resource.RUSAGE_CHILDREN)}


def stages(files: list[Path], out: Path) -> dict[str, float]:
    """CPU ms per file of each step a worker takes, in order, each timed on its own."""
    from workbench import verify
    from workbench.catalog import read_header
    from workbench.deid.engine import Engine, Subject
    from workbench.deid.files import read_source, source_pixels, write_output
    from workbench.profile import load_profile

    profile = load_profile("ps315-basic")
    engine = Engine(profile, b"bench-secret-0123456789abcdef")
    subject = Subject("SUBJ-0001", -400)
    spent = dict.fromkeys(STAGES, 0.0)

    def timed(stage, fn, *args):
        t = time.process_time()
        result = fn(*args)
        spent[stage] += time.process_time() - t
        return result

    for i, f in enumerate(files):
        timed("catalog", read_header, str(f))
        source = timed("read", read_source, str(f))
        identity = timed("identity", verify.identity_of, source.dataset, profile)
        ds = timed("de-identify", engine.deidentify, source.dataset, subject)
        header = timed("encode", engine.to_bytes, ds)
        element, pixels = timed("pixels", source_pixels, source)
        data = header + element
        if timed("verify", verify.verdict, data, identity, profile, pixels).problems:
            raise SystemExit(f"stages: {f} failed verification")
        timed("write", write_output, out / f"{i}.dcm", data)
    return {k: 1000 * v / len(files) for k, v in spent.items()}


def make_data(root: Path, files: int) -> tuple[Path, Path]:
    """An example delivery's CT files (all of them, and a quarter) as two source folders."""
    from workbench.catalog import Instance, read_header
    from workbench.examples import generate

    slices = 100
    patients = max(1, -(-files // slices))
    planted = generate(root / "example", patients=patients, seed=7, ct_slices=slices)
    cts = [Path(r.path) for r in map(read_header, map(str, _files(planted.delivery)))
           if isinstance(r, Instance) and r.modality == "CT"][:files]
    full, small = root / "ct", root / "ct-small"
    for i, f in enumerate(cts):
        for dest in (full, small) if i < len(cts) // 4 else (full,):
            target = dest / f.relative_to(planted.delivery)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(f, target)
    return full, small


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds over every variant; the fastest run of each counts "
                         "(the machine is shared)")
    ap.add_argument("--variant")
    ap.add_argument("--src")
    ap.add_argument("--out")
    ap.add_argument("--make-data")
    ap.add_argument("--cert")
    args = ap.parse_args()
    if args.make_data:
        make_data(Path(args.make_data), args.files)
        return
    if args.variant in WHOLE_PROCESS:
        print(json.dumps(whole_process(args.variant, Path(args.src), Path(args.out),
                                       Path(args.cert or "."))))
        return
    if args.variant:
        print(json.dumps(variant(args.variant, Path(args.src), Path(args.out))))
        return
    root = Path(tempfile.mkdtemp(prefix="deid-bench-"))
    try:
        t = time.perf_counter()
        # generated in a child: a process's peak RSS on Linux starts from its parent's,
        # so this process stays small for the variants' peaks to be their own
        subprocess.run([sys.executable, __file__, "--make-data", str(root), "--files",
                        str(args.files)], check=True)
        full, small = root / "ct", root / "ct-small"
        n = len(_files(full))
        print(f"{n} CT files of 512x512 generated in {time.perf_counter() - t:.1f} s")
        cert = _certificate(root)
        variants = VARIANTS if cert else tuple(v for v in VARIANTS if v != "gdcmanon")
        runs: dict[str, list[dict]] = {}
        for round_ in range(args.repeat):  # every other round in reverse; outputs kept (below)
            for name in variants[::-1] if round_ % 2 else variants:
                src = small if name.endswith("small") else full
                env = {**os.environ, "TQDM_DISABLE": "1"}
                os.sync()  # the previous variant's writes are not flushed during this one
                done = subprocess.run(
                    [sys.executable, __file__, "--variant", name.replace("-small", ""),
                     "--src", str(src), "--out", str(root / f"out-{name}-{round_}"),
                     "--cert", str(cert)],
                    capture_output=True, text=True, env=env)
                if done.returncode:
                    print(done.stderr[-2000:])
                    raise SystemExit(f"{name} failed")
                row = json.loads(done.stdout.strip().splitlines()[-1])
                row["variant"] = name
                runs.setdefault(name, []).append(row)
        split = min(runs.pop("stages"), key=lambda r: sum(r["stages"].values()))["stages"]
        variants = tuple(v for v in variants if v != "stages")
        rows = [min(runs[name], key=lambda r: r["seconds"]) for name in variants]
        by = {r["variant"]: r for r in rows}
        print(f"\n{'variant':20}{'files':>7}{'seconds':>9}{'files/s':>9}{'CPU ms/file':>12}"
              f"{'peak MB':>9}{'worker MB':>10}")
        for r in rows:
            print(f"{r['variant']:20}{r['files']:>7}{r['seconds']:>9.2f}{r['files_per_s']:>9.1f}"
                  f"{r['cpu_ms']:>12.2f}{r['peak_mb']:>9.0f}{r['worker_peak_mb']:>10.0f}")
        fps = {k: v["files_per_s"] for k, v in by.items()}
        print("\nratio                                      value  target")
        checks = [
            ("engine / plain read-write (1 process)", fps["engine"] / fps["plain"], ">= 0.8"),
            ("workbench-1 with verification / dicognito", fps["workbench-1"] / fps["dicognito"],
             ">= 2.0"),
            ("  the same by CPU time per file", by["dicognito"]["cpu_ms"]
             / by["workbench-1"]["cpu_ms"], "(less sensitive to other load)"),
            ("workbench-2 with verification / dicognito", fps["workbench-2"] / fps["dicognito"],
             ">= 2.0"),
            ("workbench-2 / workbench-1", fps["workbench-2"] / fps["workbench-1"], ">= 1.7"),
            ("peak MB, 1000 files / 250 files (workbench-1)",
             by["workbench-1"]["peak_mb"] / by["workbench-1-small"]["peak_mb"], "~1.0 (flat)"),
        ]
        checks += [
            ("workbench deid (whole process) / plain", fps["cli-1"] / fps["plain"], ">= 0.75"),
            ("workbench deid (whole process) / dicognito", fps["cli-1"] / fps["dicognito"],
             ">= 1.3"),
        ]
        if "gdcmanon" in by:  # "within 1.2x of gdcmanon's time": 2 workers' time / gdcmanon's
            checks.append(("workbench deid, 2 workers, time / gdcmanon's",
                           by["cli-2"]["seconds"] / by["gdcmanon"]["seconds"], "<= 1.2"))
        for label, value, target in checks:
            print(f"{label:42}{value:>6.2f}  {target}")
        print("\nCPU ms per file by stage (one worker)")
        for stage, ms in split.items():
            print(f"  {stage:16}{ms:>7.2f}")
        print(f"  {'total':16}{sum(split.values()):>7.2f}")
        worst = max(max(r["peak_mb"], r["worker_peak_mb"]) for r in rows
                    if r["variant"].startswith("workbench"))
        print(f"{'largest workbench process peak (MB)':42}{worst:>6.0f}  <= 200")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
