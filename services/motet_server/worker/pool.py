"""Where tasks run: threads of the worker process (default) or child processes.

Threads start fast and can be interrupted (soft limits, terminate) at Python bytecode; child
processes give CPU-bound tasks real parallelism. A child receives the assignment as bytes and
returns the report frame as bytes, so nothing but protobuf crosses the process boundary.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from motet import App
from motet.v1 import worker_pb2
from motet_server.worker.loader import find_app
from motet_server.worker.runtime import Running, execute

__all__ = ["Pool"]

_child_app: App | None = None


def _init_child(module: str) -> None:
    global _child_app
    _child_app = find_app(module)


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
        self.executor: Executor
        if kind == "threads":
            self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="motet-task")
        else:
            self.executor = ProcessPoolExecutor(
                max_workers=concurrency,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_child,
                initargs=(module,),
            )

    def submit(self, assignment: worker_pb2.Assignment) -> asyncio.Future[worker_pb2.ConnectRequest]:
        """Starts the assignment; the future gives its report frame."""
        loop = asyncio.get_running_loop()
        if self.kind == "threads":
            return loop.run_in_executor(self.executor, execute, self.app, assignment, self.running)
        raw = loop.run_in_executor(self.executor, _execute_in_child, assignment.SerializeToString())
        out: asyncio.Future[worker_pb2.ConnectRequest] = loop.create_future()

        def done(f: asyncio.Future[bytes]) -> None:
            if f.cancelled():
                out.cancel()
            elif (error := f.exception()) is not None:
                out.set_exception(error)
            else:
                out.set_result(worker_pb2.ConnectRequest.FromString(f.result()))

        raw.add_done_callback(done)
        return out

    def shutdown(self) -> None:
        """Stops the pool without waiting for queued work."""
        self.executor.shutdown(wait=False, cancel_futures=True)
