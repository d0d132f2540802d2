"""One real cluster (etcd, scheduler, results, 2 workers) for the end-to-end suite.

With MOTET_TEST_CLUSTER="scheduler_host:port,results_host:port" the suite runs against an
existing cluster instead (its workers must load tests.e2e.tasks).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from motet_server.devcluster import DevCluster


class _Existing:
    def __init__(self, spec: str) -> None:
        self.scheduler, self.results = spec.split(",")


@pytest.fixture(scope="session")
def record_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("records"))


@pytest.fixture(scope="session")
def cluster(record_dir: str) -> Iterator[Any]:
    os.environ["MOTET_TEST_RECORD_DIR"] = record_dir
    existing = os.environ.get("MOTET_TEST_CLUSTER")
    if existing:
        c: Any = _Existing(existing)
        os.environ["MOTET_SCHEDULER"], os.environ["MOTET_RESULTS"] = c.scheduler, c.results
        yield c
        return
    with DevCluster(app="tests.e2e.tasks", ports="free", workers=2, concurrency=8) as c:
        os.environ["MOTET_SCHEDULER"] = c.scheduler
        os.environ["MOTET_RESULTS"] = c.results
        yield c
