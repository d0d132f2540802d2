"""The robustness suite's cluster: private to this suite, started once, stopped by pid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.robustness.cluster import RobustCluster


@pytest.fixture(scope="module")
def robust_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RobustCluster]:
    base = tmp_path_factory.mktemp("robust")
    records = base / "records"
    records.mkdir()
    cluster_dir = base / "cluster"
    cluster_dir.mkdir()
    cluster = RobustCluster(cluster_dir, records).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def record_path(robust_cluster: RobustCluster) -> Path:
    return robust_cluster.record_dir
