"""Batch scaling: 1,000 and 10,000 instances, 1 and 2 workers, process pool and Dask.

Generates two example deliveries once, each in a process of its own (100 instances
per patient: 64 x 64 CT plus the generator's PET, RT, MR and report objects), then
runs ``run_batch`` (survey with SHA-256 of every file, plan, de-identify, verify,
record) over each with the ps315-basic profile, each run in a fresh process:

* ``pool``  a ``ProcessPoolExecutor`` with 1 or 2 workers,
* ``dask``  a Dask ``LocalCluster`` (processes, one thread each) with 1 or 2 workers,
  configured as the README says for a multi-machine cluster
  (``workbench.batch.executors.CLUSTER_SETTINGS``).

Prints files per second, parallel efficiency (time with 1 worker / (2 x time with
2)), CPU time per file, peak memory, the CPU the rest of the machine used meanwhile
(it is shared), and the ratios against the targets: efficiency >= 80% at 2 workers,
coordinator memory flat from 1,000 to 10,000 instances, Dask no more than 15% slower
than the process pool.

Every run's output stays on disk until the end (about 500 MB per run of 10,000
instances): on ext4, files created soon after thousands were deleted take much
longer to create, since the allocator steps over recently freed inodes, and a run
must not pay for the one before it. With ``--repeat``, configurations run in rounds,
every other round in reverse order, and the fastest run of each counts.

Peak memory is each process's own high-water mark (``VmHWM`` in
``/proc/<pid>/status``), not ``ru_maxrss``, which a child started by fork and exec
inherits from its parent. The coordinator's figure includes, with Dask, the
LocalCluster's scheduler and nannies, which run in the coordinator's process. The
worker figure is the largest among the coordinator's child processes, read just
before the executor closes; a pool worker forked from the coordinator counts the
pages it shares with it.

    python bench/batch_scale.py [--sizes 1000 10000] [--data DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PER_PATIENT = 100  # ct_slices=54 plus the 46 other objects of each example patient
CT_SLICES = 54
SECRET = b"batch-scale-benchmark-secret-0123456789"


def peak_mb(pid: int | str = "self") -> float:
    """The peak resident memory of process ``pid`` in MB (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)[1]) / 1024


def workers_peak_mb() -> float:
    """The largest peak memory among this process's children (the executor's workers)."""
    import psutil

    return max((peak_mb(p.pid) for p in psutil.Process().children(recursive=True)),
               default=0.0)


def generate(root: Path, instances: int) -> None:
    from workbench.examples import generate

    generate(root, patients=instances // PER_PATIENT, seed=7, ct_slices=CT_SLICES, ct_size=64)


def delivery(data: Path, instances: int) -> Path:
    """The example delivery of ``instances`` files under ``data`` (generated once, apart)."""
    root = data / f"delivery-{instances}"
    if not (root / "planted.json").exists():
        subprocess.run([sys.executable, __file__, "--generate", str(root), str(instances)],
                       check=True)
    return root / "delivery"


def _busy_seconds() -> float | None:
    """CPU seconds this machine has spent busy, all processes (None without /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    own = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(r.ru_utime + r.ru_stime for r in own)


def one(kind: str, workers: int, src: Path, work: Path) -> dict:
    """One batch run in this process; its time, throughput and peak memory."""
    from concurrent.futures import ProcessPoolExecutor

    from workbench.batch import BatchSettings, run_batch

    settings = BatchSettings(profile="ps315-basic", source=str(src), output=str(work / "out"),
                             site="SITE01", store=str(work / "state.sqlite"),
                             run_dir=str(work / "run"), workers=workers)
    if kind == "dask":
        import dask
        from distributed import LocalCluster

        from workbench.batch.executors import CLUSTER_SETTINGS

        with dask.config.set(CLUSTER_SETTINGS):  # as the README says for a cluster
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", host="127.0.0.1")
        settings = BatchSettings(**{**settings.__dict__, "scheduler": cluster.scheduler_address})
        busy, own, start = _busy_seconds(), _own_cpu_seconds(), time.perf_counter()
        result = run_batch(settings, secret=SECRET, progress=False)
        seconds = time.perf_counter() - start
        worker_mb = workers_peak_mb()
        cluster.close()
    else:
        with ProcessPoolExecutor(workers) as pool:
            busy, own, start = _busy_seconds(), _own_cpu_seconds(), time.perf_counter()
            result = run_batch(settings, secret=SECRET, progress=False, executor=pool)
            seconds = time.perf_counter() - start
            worker_mb = workers_peak_mb()
    window = time.perf_counter() - start
    used = _own_cpu_seconds() - own
    other = None
    if busy is not None:  # CPU the rest of the machine used meanwhile, in cores
        other = max(0.0, (_busy_seconds() - busy) - used) / window
    files = sum(r.files for r in result.rows)
    assert result.status == "finished", result.message
    return {"seconds": seconds, "files": files, "files_per_s": files / seconds,
            "coordinator_mb": peak_mb(), "worker_mb": worker_mb, "other_cores": other,
            "cpu_ms_per_file": 1000 * used / files}


def measure(kind: str, workers: int, src: Path, work: Path) -> dict:
    """Run :func:`one` in a fresh interpreter and return its measurements."""
    env = {**os.environ, "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, __file__, "--one", kind, str(workers), str(src),
                           str(work)], env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{kind} with {workers} worker(s) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--data", help="folder for the deliveries, kept (default: temporary)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds over every configuration; the fastest run of each counts "
                             "(the machine is shared)")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(Path(args.generate[0]), int(args.generate[1]))
        return
    if args.one:
        kind, workers, src, work = args.one
        print(json.dumps(one(kind, int(workers), Path(src), Path(work))))
        return
    data = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="batch-scale-"))
    data.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[int, str, int], dict] = {}
    works = data / "runs"
    shutil.rmtree(works, ignore_errors=True)
    try:
        for size in args.sizes:
            src = delivery(data, size)
            runs: dict[tuple[str, int], list[dict]] = {}
            configs = [(kind, workers) for kind in ("pool", "dask") for workers in (1, 2)]
            for round_ in range(args.repeat):  # every other round in reverse order
                for kind, workers in configs[::-1] if round_ % 2 else configs:
                    os.sync()  # the previous run's writes are not flushed during this one
                    runs.setdefault((kind, workers), []).append(measure(
                        kind, workers, src, works / f"{size}-{kind}-{workers}-{round_}"))
            for (kind, workers), found in runs.items():
                results[size, kind, workers] = min(found, key=lambda r: r["seconds"])
    finally:
        shutil.rmtree(works, ignore_errors=True)
        if not args.data:
            shutil.rmtree(data, ignore_errors=True)
    report(results, args.sizes)


def report(results: dict[tuple[int, str, int], dict], sizes: list[int]) -> None:
    print(f"{'instances':>9} {'executor':8} {'workers':>7} {'seconds':>8} {'files/s':>8} "
          f"{'efficiency':>10} {'CPU ms/file':>11} {'coord MB':>9} {'worker MB':>9} "
          f"{'other load':>10}")
    for (size, kind, workers), r in results.items():
        eff = ""
        if workers == 2:
            eff = f"{results[size, kind, 1]['seconds'] / (2 * r['seconds']):.0%}"
        print(f"{r['files']:>9} {kind:8} {workers:>7} {r['seconds']:>8.1f} "
              f"{r['files_per_s']:>8.0f} {eff:>10} {r['cpu_ms_per_file']:>11.1f} "
              f"{r['coordinator_mb']:>9.0f} "
              f"{r['worker_mb']:>9.0f} {_cores(r['other_cores']):>10}")
    print("(CPU ms/file: coordinator and workers together; other load: CPU cores the rest of "
          "the machine used during the run)\n")
    big, small = max(sizes), min(sizes)
    for kind in ("pool", "dask"):
        eff = results[big, kind, 1]["seconds"] / (2 * results[big, kind, 2]["seconds"])
        print(f"parallel efficiency, {kind}, 2 workers, {big} instances: {eff:.0%} "
              f"(target >= 80%: {'met' if eff >= 0.8 else 'missed'})")
    if big != small:
        for kind in ("pool", "dask"):
            grown, base = results[big, kind, 2], results[small, kind, 2]
            coord = grown["coordinator_mb"] / base["coordinator_mb"]
            worker = grown["worker_mb"] / base["worker_mb"]
            per_k = (grown["coordinator_mb"] - base["coordinator_mb"]) / ((big - small) / 1000)
            print(f"peak memory {big} / {small} instances, {kind}: coordinator x{coord:.2f} "
                  f"({per_k:+.1f} MB per 1,000 instances), worker x{worker:.2f} "
                  f"(target flat, within x1.05: "
                  f"{'met' if max(coord, worker) <= 1.05 else 'missed'})")
    for workers in (1, 2):
        ratio = results[big, "dask", workers]["seconds"] / results[big, "pool", workers]["seconds"]
        print(f"Dask / process pool time, {workers} worker(s), {big} instances: {ratio:.2f} "
              f"(target <= 1.15: {'met' if ratio <= 1.15 else 'missed'})")


def _cores(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
