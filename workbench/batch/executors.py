"""Where a batch's work runs: this process, a local process pool, or a Dask cluster.

Every kind is a ``concurrent.futures`` executor: a :class:`ProcessPoolExecutor`
(any start method, ``spawn`` included), or ``distributed.Client.get_executor()``
for a Dask scheduler. Work goes out in chunks; the coordinator takes results
as they complete.
"""

from __future__ import annotations

import importlib.metadata
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, CancelledError, Executor, \
    Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from ..progress import progress_bar

from ..errors import BatchError


#: Chunks out per worker slot at a time: enough to keep every worker busy.
AHEAD = 4
#: Dask keeps this many of a client's last messages, tasks included (default 1,000).
SENT_LOG = "distributed.admin.low-level-log-length"
#: The Dask settings a batch's cluster should run with (README, "On a multi-machine
#: Dask cluster"); each costs CPU a batch's many short tasks pay for, or keeps identity.
CLUSTER_SETTINGS = {
    SENT_LOG: 0,  # no copies of sent tasks (source paths, identifiers) in memory
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,  # glibc's default
    "distributed.worker.profile.enabled": False,  # no sampling of running tasks
    "distributed.admin.tick.interval": "1s",  # event-loop health check (default 20 ms)
    "distributed.worker.memory.monitor-interval": "1s",  # default 100 ms
    "distributed.admin.system-monitor.interval": "5s",  # dashboard's CPU/network graphs
}


@dataclass
class Workers:
    """An open executor (None: this process) and how many tasks it runs at once."""

    executor: Executor | None
    slots: int
    description: dict[str, Any] = field(default_factory=dict)


def workbench_version() -> str:
    """The workbench version installed where this runs (asked of every Dask worker)."""
    return importlib.metadata.version("workbench")


@contextmanager
def open_workers(workers: int = 1, scheduler: str = "", *, executor: Executor | None = None,
                 start_method: str | None = None, timeout: float = 30.0) -> Iterator[Workers]:
    """Open the executor a batch runs on and close it afterwards.

    Parameters
    ----------
    workers
        Local worker processes (1: in this process); ignored with a scheduler.
    scheduler
        Address of a Dask scheduler, e.g. ``tcp://10.0.0.5:8786``.
    executor
        An executor made by the caller (left open).
    start_method
        Start method of the local pool: ``fork``, ``spawn`` or ``forkserver``
        (default: the platform's).
    timeout
        Seconds to reach the scheduler and, after it goes away, to wait for it.
    """
    if executor is not None:
        yield Workers(executor, max(1, workers), {"kind": type(executor).__name__,
                                                   "workers": max(1, workers)})
    elif scheduler:
        with _dask(scheduler, timeout) as found:
            yield found
    elif workers > 1:
        context = multiprocessing.get_context(start_method)
        pool = ProcessPoolExecutor(workers, mp_context=context)
        try:
            yield Workers(pool, workers, {"kind": "process pool", "workers": workers,
                                          "start_method": context.get_start_method()})
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        yield Workers(None, 1, {"kind": "in-process", "workers": 1})


@contextmanager
def _dask(address: str, timeout: float) -> Iterator[Workers]:
    try:
        import dask
        from distributed import Client
    except ImportError as exc:
        raise BatchError(f"a Dask scheduler needs Dask ({exc.name} is not installed); install it "
                         "with `pip install 'workbench[dask]'`, or leave the scheduler empty to "
                         "use a local process pool.") from None

    try:
        with dask.config.set({SENT_LOG: 0}):  # sent tasks are not kept for debugging
            client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise BatchError(f"cannot reach the Dask scheduler at {address} ({type(exc).__name__}); "
                         f"start it (`dask scheduler`) and its workers (`dask worker {address}`), "
                         "or leave the scheduler empty to use a local process pool.") from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
            versions = client.run(workbench_version)
        except (OSError, TimeoutError) as exc:
            raise BatchError(f"the Dask scheduler at {address} has no workers "
                             f"({type(exc).__name__}); start some with "
                             f"`dask worker {address}`.") from None
        except Exception as exc:
            raise BatchError(f"the workers of {address} cannot import workbench "
                             f"({type(exc).__name__}); install the same version on every "
                             "worker machine.") from None
        ours = workbench_version()
        other = sorted({v for v in versions.values() if v != ours})
        if other:
            raise BatchError(f"the workers of {address} run workbench {', '.join(other)}, this "
                             f"machine {ours}; install the same version everywhere.")
        info = client.scheduler_info()["workers"]
        slots = sum(w.get("nthreads", 1) for w in info.values()) or 1
        yield Workers(client.get_executor(pure=False), slots,
                      {"kind": "dask", "scheduler": address, "workers": len(info),
                       "threads": slots})
    finally:
        client.close()


def describe(exc: BaseException) -> str:
    """An executor failure in words."""
    if isinstance(exc, BrokenExecutor):
        return f"a worker process died ({type(exc).__name__})"
    if isinstance(exc, CancelledError):
        return "the work was cancelled: the Dask scheduler went away or the cluster was shut down"
    return f"{type(exc).__name__}: {exc}"


def is_broken(exc: BaseException) -> bool:
    """True when ``exc`` means the executor itself is gone, not just one task."""
    return isinstance(exc, (BrokenExecutor, CancelledError))


def completions(executor: Executor | None, fn: Callable, chunks: Iterable, ahead: int
                ) -> Iterator[tuple[int, Any, Any, Exception | None]]:
    """Run ``fn`` on every chunk; yield ``(index, chunk, result, error)`` as each completes.

    Without an executor the chunks run here, one after the other. With one, at
    most ``ahead`` chunks are out at a time, and ``chunks`` is read only as they
    come back: the executor (a Dask scheduler holds every task it is given) and
    this process hold those only, whatever the size of the delivery.
    """
    if executor is None:
        for index, chunk in enumerate(chunks):
            try:
                result = fn(chunk)
            except Exception as exc:
                yield index, chunk, None, exc
                continue
            yield index, chunk, result, None
        return
    waiting = enumerate(chunks)
    futures: dict[Future, tuple[int, Any]] = {}
    try:
        while True:
            while len(futures) < max(1, ahead) and (item := next(waiting, None)) is not None:
                try:
                    futures[executor.submit(fn, item[1])] = item
                except Exception as exc:  # the executor is gone
                    yield *item, None, exc
            if not futures:
                return
            for future in wait(futures, return_when=FIRST_COMPLETED).done:
                index, chunk = futures.pop(future)  # a result is let go as soon as it is taken
                try:
                    result = future.result()
                except Exception as exc:
                    yield index, chunk, None, exc
                    continue
                yield index, chunk, result, None
    finally:
        for future in futures:
            future.cancel()


def run_chunks(executor: Executor | None, fn: Callable, chunks: Iterable, ahead: int, desc: str,
               progress: bool, total: int) -> Iterator[tuple[int, Any]]:
    """Like :func:`completions`, in chunk order; the first failure raises :class:`BatchError`.

    ``total`` is the number of items in all chunks together (for the progress bar).
    """
    pending: dict[int, Any] = {}
    following = 0
    with progress_bar(total=total, desc=desc, unit="file", enabled=progress) as bar:
        for index, chunk, result, error in completions(executor, fn, chunks, ahead):
            if error is not None:
                raise BatchError(f"the {desc} stopped: {describe(error)}; nothing was "
                                 "written yet; fix the cause and run the batch again.")
            bar.update(len(chunk))
            pending[index] = result
            while following in pending:
                yield following, pending.pop(following)
                following += 1
