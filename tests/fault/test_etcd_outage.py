"""etcd stops: services report NOT_SERVING; etcd comes back: they serve again and work resumes."""

from __future__ import annotations

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from examples.guide.tasks import add

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def _status(endpoint: str) -> int:
    stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(endpoint))
    return stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status


def _wait_for(endpoint: str, status: int, seconds: float = 20) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if _status(endpoint) == status:
            return True
        time.sleep(0.2)
    return False


def test_health_follows_etcd_and_work_resumes(fault_cluster: object) -> None:
    from examples.guide.tasks import sleep_task

    etcd = fault_cluster.etcd_process
    running = sleep_task.delay(1.5)  # finishes while etcd is down: its report must not be lost
    deadline = time.time() + 10
    while running.state == "PENDING" and time.time() < deadline:
        time.sleep(0.05)
    etcd.stop()
    try:
        for endpoint in (fault_cluster.scheduler, fault_cluster.results):
            assert _wait_for(endpoint, health_pb2.HealthCheckResponse.NOT_SERVING)
    finally:
        etcd.start()
    for endpoint in (fault_cluster.scheduler, fault_cluster.results):
        assert _wait_for(endpoint, health_pb2.HealthCheckResponse.SERVING)
    assert add.delay(2, 3).get(timeout=60) == 5
    assert running.get(timeout=60) == 1.5
