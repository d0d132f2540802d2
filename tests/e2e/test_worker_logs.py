"""What a person reads in a worker's log: one line per task received and finished (Celery's
wording, the failure with its traceback), and the drain announced on a graceful stop."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from examples.guide.tasks import add, sleep_task
from tests.e2e.tasks import fails_deep


def _wait_for(path: Path, pattern: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(errors="replace")
        if re.search(pattern, text):
            return text
        assert time.monotonic() < deadline, f"{pattern!r} not in {path}:\n{text[-2000:]}"
        time.sleep(0.2)


def test_the_worker_logs_each_task_received_and_finished(cluster: Any) -> None:
    queue = "logged"
    worker = cluster.add_worker(queues=queue)
    log = Path(worker.log_path)
    try:
        ok = add.apply_async((2, 3), queue=queue)
        assert ok.get(timeout=30) == 5
        bad = fails_deep.apply_async((9,), queue=queue)
        with pytest.raises(ValueError):
            bad.get(timeout=30)
        name = re.escape(add.name)
        _wait_for(log, rf"INFO .*Task {name}\[{ok.id}\] received")
        _wait_for(log, rf"INFO .*Task {name}\[{ok.id}\] succeeded in \d+\.\d{{3}}s: 5")
        text = _wait_for(
            log,
            rf"ERROR .*Task {re.escape(fails_deep.name)}\[{bad.id}\] raised unexpected: "
            r"builtins.ValueError: bad input 9",
        )
        assert "in _deep_helper" in text.split(bad.id, 2)[-1], "the failure's traceback is not in the log"
    finally:
        worker.stop()


def test_a_graceful_worker_stop_announces_its_drain(cluster: Any) -> None:
    queue = "drained"
    worker = cluster.add_worker(queues=queue)
    log = Path(worker.log_path)
    res = sleep_task.apply_async((1.5,), queue=queue)
    _wait_for(log, rf"Task .*\[{res.id}\] received")
    worker.stop()  # SIGTERM while the task runs
    text = _wait_for(log, r"draining: waiting for 1 task to finish, up to \d+(\.\d+)? s")
    assert "drained: every task finished and reported" in text
    assert res.get(timeout=30) == 1.5


def test_json_logs_carry_the_task_and_workflow_ids(cluster: Any) -> None:
    import json

    from motet import chain

    queue = "json-logged"
    worker = cluster.add_worker(queues=queue, log_format="json")
    log = Path(worker.log_path)
    try:
        flow = chain(add.s(1, 2), add.s(3)).apply_async(queue=queue)
        assert flow.get(timeout=30) == 6
        first, last = flow.parent.id, flow.id
        _wait_for(log, rf'"task_id": "{last}".*succeeded|succeeded.*"task_id": "{last}"')
        records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        assert records, "no JSON log line"
        assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
        about = {r["task_id"]: r for r in records if r.get("task_id") == last and "received" in r["message"]}
        assert about[last]["root_id"] == first and about[last]["parent_id"] == first
        assert about[last]["task"] == add.name and about[last]["level"] == "INFO"
        done = [r for r in records if r.get("task_id") == first and "succeeded" in r["message"]]
        assert done and done[0]["root_id"] == first
        # Nothing else on stderr is a text log line: the format is one JSON object per line.
        assert not [line for line in log.read_text().splitlines() if re.match(r"\d{4}-\d\d-\d\d \d", line)]
    finally:
        worker.stop()
