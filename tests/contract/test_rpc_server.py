"""`rpc.server` and `rpc.errors`: health, reflection, metrics port, rich error details, graceful stop.

(No etcd needed; kept next to the store contract tests because they share the server builder's
consumers. Move to tests/unit if preferred.)
"""

from __future__ import annotations

import asyncio
import urllib.request

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from motet.v1 import error_reason_pb2
from motet_server.rpc import errors, metrics
from motet_server.rpc.server import ServiceSpec, start_server

pytestmark = pytest.mark.asyncio


def _scrape(port: int | None) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


_SERVICE = "motet.test.Echo"


class _Failing:
    async def fail(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await errors.abort(
            context,
            "invalid_canvas",
            "the canvas cannot run: bad",
            violations=[("canvas.chain.steps[0]", "empty")],
            metadata={"task_id": "t1"},
        )


def _add(servicer: _Failing, server: grpc.aio.Server) -> None:
    handler = grpc.method_handlers_generic_handler(
        _SERVICE, {"Fail": grpc.unary_unary_rpc_method_handler(servicer.fail)}
    )
    server.add_generic_rpc_handlers((handler,))


async def test_health_reflection_metrics_errors_and_stop() -> None:
    server = await start_server(
        "127.0.0.1:0",
        [ServiceSpec(_SERVICE, _add, _Failing())],
        metrics_listen="127.0.0.1:0",
        metrics_registry=metrics.SCHEDULER,
    )
    assert server.port > 0 and server.metrics_port
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for name in ("", _SERVICE):
                resp = await health.Check(health_pb2.HealthCheckRequest(service=name))
                assert resp.status == health_pb2.HealthCheckResponse.SERVING
            await server.set_serving(False)
            resp = await health.Check(health_pb2.HealthCheckRequest(service=_SERVICE))
            assert resp.status == health_pb2.HealthCheckResponse.NOT_SERVING
            await server.set_serving(True)

            refl = reflection_pb2_grpc.ServerReflectionStub(channel)
            call = refl.ServerReflectionInfo()
            await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
            listed = await call.read()
            await call.done_writing()
            names = {s.name for s in listed.list_services_response.service}
            assert {_SERVICE, "grpc.health.v1.Health"} <= names

            fail = channel.unary_unary(f"/{_SERVICE}/Fail")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await fail(b"")
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            status = rpc_status.from_call(err.value)
            assert status is not None and status.message == "the canvas cannot run: bad"
            info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
            assert status.details[0].Unpack(info) and status.details[1].Unpack(bad)
            assert (info.reason, info.domain, dict(info.metadata)) == ("INVALID_CANVAS", "motet.dev", {"task_id": "t1"})
            assert [(v.field, v.description) for v in bad.field_violations] == [("canvas.chain.steps[0]", "empty")]

        metrics.etcd_txn_total.labels(outcome="committed").inc()
        text = await asyncio.to_thread(_scrape, server.metrics_port)
        assert "motet_etcd_txn_total" in text and "motet_workers_connected" in text
    finally:
        await server.stop(1.0)
    await server.wait_for_termination()


async def test_every_error_kind_has_a_code_and_error_info() -> None:
    for kind, (code, _, reason) in errors.KINDS.items():
        status = errors.status_for(kind, "m")
        assert status.code == code
        (details,) = [v for k, v in status.trailing_metadata if k == "grpc-status-details-bin"]
        info = error_details_pb2.ErrorInfo()
        assert status_pb2.Status.FromString(details).details[0].Unpack(info)
        assert info.reason == errors.reason_name(reason) and not info.reason.startswith("ERROR_REASON_")
    # The table and the protocol's vocabulary do not drift apart: every reason has a kind.
    declared = set(error_reason_pb2.ErrorReason.values()) - {error_reason_pb2.ERROR_REASON_UNSPECIFIED}
    assert {reason for _, _, reason in errors.KINDS.values()} == declared
    with pytest.raises(ValueError):
        errors.status_for("nope", "m")
