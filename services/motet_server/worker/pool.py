"""Where tasks run: threads of the worker process (default) or child processes.

Threads start fast and can be interrupted (soft limits, terminate) at Python bytecode; child
processes give CPU-bound tasks real parallelism. A child receives the assignment as bytes and
returns the report frame as bytes, so nothing but protobuf crosses the process boundary.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from motet import App
from motet.exceptions import TaskRevokedError
from motet.failures import failure_from_exception
from motet.v1 import worker_pb2
from motet_server.tracing import configure_from_env as configure_tracing
from motet_server.worker.loader import find_app
from motet_server.worker.runtime import Running, execute

__all__ = ["Gate", "Pool"]


class Gate:
    """Which assignments have begun, so that one revoked before it begins is dropped (Celery
    discards a revoked task it has not started: it ends REVOKED without running)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._begun: set[str] = set()
        self._dropped: set[str] = set()

    def begin(self, task_id: str) -> bool:
        """Called where the task is about to run; False if it was dropped meanwhile."""
        with self._lock:
            if task_id in self._dropped:
                self._dropped.discard(task_id)
                return False
            self._begun.add(task_id)
            return True

    def drop(self, task_id: str) -> bool:
        """Drops a task that has not begun (it will report REVOKED at once); False if it has."""
        with self._lock:
            if task_id in self._begun:
                return False
            self._dropped.add(task_id)
            return True

    def forget(self, task_id: str) -> None:
        """The task was reported: nothing about it is kept."""
        with self._lock:
            self._begun.discard(task_id)
            self._dropped.discard(task_id)


def _execute_gated(app: App, a: worker_pb2.Assignment, running: Running, gate: Gate) -> worker_pb2.ConnectRequest:
    if not gate.begin(a.task_id):
        return _dropped(a)
    return execute(app, a, running)


def _dropped(a: worker_pb2.Assignment) -> worker_pb2.ConnectRequest:
    """The report of a task revoked before it began: REVOKED, it never ran."""
    failure = failure_from_exception(TaskRevokedError("revoked"), task_id=a.task_id)
    return worker_pb2.ConnectRequest(
        failed=worker_pb2.TaskFailed(task_id=a.task_id, delivery=a.delivery, failure=failure)
    )


_child_app: App | None = None


def _init_child(module: str, parent: int) -> None:
    global _child_app
    _die_with(parent)
    configure_tracing()  # the child exports its tasks' spans as the worker does
    _child_app = find_app(module)


_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """Ends this pool child when the worker process dies, SIGKILL included (Linux's parent-death
    signal), so no child of a killed worker lives on holding or running tasks; the worker's
    tasks are redelivered once its session lapses. Elsewhere a child ends when its pipe does."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the worker died before the signal was armed
        os._exit(1)


def _execute_in_child(assignment: bytes) -> bytes:
    assert _child_app is not None
    frame = execute(_child_app, worker_pb2.Assignment.FromString(assignment), Running())
    return frame.SerializeToString()


class Pool:
    """Runs assignments on threads or child processes and returns their report frames."""

    def __init__(self, kind: str, app: App, module: str, concurrency: int, running: Running) -> None:
        if kind not in ("threads", "processes"):
            raise ValueError(f"unknown pool {kind!r}: use threads or processes")
        self.kind = kind
        self.app = app
        self.running = running
        self.gate = Gate()
        # The processes pool hands a child at most `concurrency` tasks at once, so a task held
        # in the prefetch waits here, in this process, where a revocation can still drop it.
        self._slots = asyncio.Semaphore(concurrency)
        self.executor: Executor
        if kind == "threads":
            self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="motet-task")
        else:
            self.executor = ProcessPoolExecutor(
                max_workers=concurrency,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_child,
                initargs=(module, os.getpid()),
            )

    def submit(self, assignment: worker_pb2.Assignment) -> asyncio.Future[worker_pb2.ConnectRequest]:
        """Starts the assignment; the future gives its report frame."""
        loop = asyncio.get_running_loop()
        if self.kind == "threads":
            return loop.run_in_executor(self.executor, _execute_gated, self.app, assignment, self.running, self.gate)
        return asyncio.ensure_future(self._run_in_child(assignment))

    async def _run_in_child(self, a: worker_pb2.Assignment) -> worker_pb2.ConnectRequest:
        async with self._slots:
            if not self.gate.begin(a.task_id):
                return _dropped(a)  # revoked while it waited for a child
            loop = asyncio.get_running_loop()
            raw = await loop.run_in_executor(self.executor, _execute_in_child, a.SerializeToString())
            return worker_pb2.ConnectRequest.FromString(raw)

    def drop(self, task_id: str) -> bool:
        """Drops a submitted task that has not begun, so it reports REVOKED instead of running.

        A task has begun once a thread picked it up, or once it was sent to a child process
        (the processes pool sends one only when a child is free).

        Returns:
            False if it has begun: the task then runs.
        """
        return self.gate.drop(task_id)

    def forget(self, task_id: str) -> None:
        """A task was reported: the pool keeps nothing about it."""
        self.gate.forget(task_id)

    def shutdown(self) -> None:
        """Stops the pool without waiting for queued work."""
        self.executor.shutdown(wait=False, cancel_futures=True)
