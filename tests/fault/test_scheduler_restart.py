"""The scheduler is stopped or killed mid-canvas: workers reconnect, nothing is lost or doubled."""

from __future__ import annotations

import time

import pytest

from examples.guide.tasks import add, tsum
from motet import chain, chord

pytestmark = [pytest.mark.fault, pytest.mark.slow]


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_scheduler_restart_mid_canvas(fault_cluster: object, kill: bool) -> None:
    from tests.e2e.tasks import slow_add

    res = chain(slow_add.s(1, 1), slow_add.s(1), slow_add.s(1), add.s(1))()
    wide = chord(slow_add.s(i, i) for i in range(8))(tsum.s())
    time.sleep(0.5)
    fault_cluster.restart_scheduler(kill=kill)
    assert res.get(timeout=90) == 5
    assert wide.get(timeout=90) == 56
