"""A loopback TCP proxy that injects network faults between a client and one endpoint.

Modes: ``pass`` (forward), ``latency`` (forward after a delay per chunk), ``blackhole``
(accept and read bytes, deliver none, in either direction), ``mute`` (deliver the client's
bytes to the target, none of the answers: a request that is applied while its caller times
out, an unknown outcome). `drop` closes every open connection now. It runs an asyncio loop in a
daemon thread of the test process.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

__all__ = ["FaultProxy"]


class FaultProxy:
    """Listens on 127.0.0.1:<free port> and forwards to ``target`` (``host:port``)."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.mode = "pass"
        self.latency = 0.0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result(5)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def set_mode(self, mode: str, latency: float = 0.0) -> None:
        assert mode in ("pass", "latency", "blackhole", "mute")
        self.latency = latency
        self.mode = mode

    def drop(self) -> None:
        """Closes every open connection (both sides)."""
        asyncio.run_coroutine_threadsafe(self._drop(), self._loop).result(5)

    async def _drop(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer, upstream=True),
            self._pipe(up_reader, writer, upstream=False),
            return_exceptions=True,
        )
        for w in (writer, up_writer):
            self._writers.discard(w)
            with contextlib.suppress(Exception):
                w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if self.mode == "blackhole" or (self.mode == "mute" and not upstream):
                continue  # swallowed: the peer sees an open, silent connection
            if self.mode == "latency" and self.latency:
                await asyncio.sleep(self.latency)
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(Exception):
            writer.transport.abort()

    def stop(self) -> None:
        async def _close() -> None:
            await self._drop()
            if self._server is not None:
                self._server.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()
