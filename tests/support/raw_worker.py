"""A worker stream a test drives frame by frame: no SDK and no worker process, so a test can
send what no honest worker would (credit again and again, reports for tasks it never got)."""

from __future__ import annotations

import queue
import threading
import time

import grpc

from motet.v1 import worker_pb2, worker_pb2_grpc


class RawWorker:
    """One ``WorkerService.Connect`` stream: hello on open, then whatever the test sends."""

    def __init__(self, target: str, task_names: list[str], queues: list[str], *, token: str | None = None) -> None:
        self._channel = grpc.insecure_channel(target)
        self._out: queue.Queue[worker_pb2.ConnectRequest | None] = queue.Queue()
        self._in: queue.Queue[worker_pb2.ConnectResponse | grpc.RpcError | None] = queue.Queue()
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        stub = worker_pb2_grpc.WorkerServiceStub(self._channel)
        self._call = stub.Connect(iter(self._out.get, None), metadata=metadata, timeout=300)
        hello = worker_pb2.WorkerHello(worker_id="raw-worker", task_names=task_names, queues=queues)
        self.send(worker_pb2.ConnectRequest(hello=hello))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for frame in self._call:
                self._in.put(frame)
        except grpc.RpcError as exc:
            self._in.put(exc)
        self._in.put(None)

    def send(self, frame: worker_pb2.ConnectRequest) -> None:
        """Queues a frame for the scheduler."""
        self._out.put(frame)

    def credit(self, n: int) -> None:
        """Announces credit for ``n`` more tasks."""
        self.send(worker_pb2.ConnectRequest(credit=worker_pb2.Credit(n=n)))

    def assignments(self, expect: int = 0, settle: float = 1.5, within: float = 60.0) -> list[worker_pb2.Assignment]:
        """The assignments that arrive: at least ``expect`` of them (waiting up to ``within``
        seconds), then any more until none has come for ``settle`` seconds.

        Raises:
            grpc.RpcError: the scheduler ended the stream with an error.
        """
        got: list[worker_pb2.Assignment] = []
        deadline = time.monotonic() + within
        while True:
            short = len(got) < expect
            wait = max(deadline - time.monotonic(), 0.0) if short else settle
            try:
                frame = self._in.get(timeout=wait)
            except queue.Empty:
                return got
            if isinstance(frame, grpc.RpcError):
                raise frame
            if frame is None:
                return got
            if frame.WhichOneof("frame") == "assignment":
                got.append(frame.assignment)

    def close(self) -> None:
        """Ends the stream (the scheduler ends the session)."""
        self._out.put(None)
        self._call.cancel()
        self._channel.close()

    def __enter__(self) -> RawWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
