"""A private cluster per fault test module: faults must not leak into other suites."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from motet_server.devcluster import DevCluster


@pytest.fixture(scope="module")
def record_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("records"))


@pytest.fixture(scope="module")
def fault_cluster(record_dir: str) -> Iterator[DevCluster]:
    saved = {k: os.environ.get(k) for k in ("MOTET_SCHEDULER", "MOTET_RESULTS", "MOTET_TEST_RECORD_DIR")}
    os.environ["MOTET_TEST_RECORD_DIR"] = record_dir
    with DevCluster(app="tests.e2e.tasks", ports="free", workers=2, concurrency=2) as cluster:
        os.environ["MOTET_SCHEDULER"] = cluster.scheduler
        os.environ["MOTET_RESULTS"] = cluster.results
        yield cluster
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
