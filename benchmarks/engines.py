"""Where the runner's jobs execute: in this process, a local process pool, or Ray.

Every engine has ``submit(fn, *args) -> concurrent.futures.Future`` and ``shutdown()``;
the runner waits on the futures, so the same job list runs on any of them.

- ``inline`` (``--workers 0``): one job at a time in this process (debugging, tests);
- ``pool`` (default): ``concurrent.futures.ProcessPoolExecutor`` with fresh (spawned)
  worker processes; each gets ``cpu_count // workers`` threads unless ``OMP_NUM_THREADS``
  is set; a worker that dies fails its job and the pool is rebuilt for the rest;
- ``ray``: each job is a Ray task (1 CPU). Connects to the cluster named by
  ``RAY_ADDRESS`` when set, else starts a local Ray with ``workers`` CPUs. On a cluster, the
  run folders and checkpoints must be on a filesystem every node sees at the same path.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

ENGINES = ("pool", "ray")


class Engine(Protocol):
    """Runs job functions and hands back futures."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future: ...

    def shutdown(self) -> None: ...


class InlineEngine:
    """Runs each job at once in this process (``KeyboardInterrupt`` propagates)."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as error:
            future.set_exception(error)
        return future

    def shutdown(self) -> None:
        """Nothing to release."""


def _limit_threads(threads: int) -> None:
    """Worker initializer: set the thread count before numpy or torch start their pools."""
    os.environ["OMP_NUM_THREADS"] = str(threads)


class PoolEngine:
    """A local pool of ``workers`` spawned processes."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"a process pool needs workers >= 1, got {workers}")
        self.workers = workers
        self.threads = int(os.environ.get("OMP_NUM_THREADS") or max(1, (os.cpu_count() or 1) // workers))
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_limit_threads, initargs=(self.threads,))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        try:
            return self._executor.submit(fn, *args)
        except BrokenProcessPool:  # a worker died earlier; its job failed already
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            return self._executor.submit(fn, *args)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class RayEngine:
    """Each job a Ray task; starts a local Ray unless one is running or ``RAY_ADDRESS`` is set."""

    def __init__(self, workers: int) -> None:
        try:
            import ray
        except ImportError as error:
            raise RuntimeError("--engine ray needs Ray: pip install 'dfplan[ray]' (or pip install 'ray>=2.9')") from error
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            if os.environ.get("RAY_ADDRESS"):
                ray.init(log_to_driver=False)
            else:
                ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)
        self._remote: dict[Callable[..., Any], Any] = {}

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if fn not in self._remote:
            self._remote[fn] = self._ray.remote(num_cpus=1, max_retries=0)(fn)
        return self._remote[fn].remote(*args).future()

    def shutdown(self) -> None:
        if self._started:
            self._ray.shutdown()


def make_engine(name: str, workers: int) -> Engine:
    """The engine called ``name`` (``pool`` with ``workers = 0`` runs inline)."""
    if name == "pool":
        return InlineEngine() if workers == 0 else PoolEngine(workers)
    if name == "ray":
        return RayEngine(workers)
    raise ValueError(f"unknown engine {name!r}; valid: {', '.join(ENGINES)}")
