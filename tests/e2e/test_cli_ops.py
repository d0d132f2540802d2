"""`motet wait|graph|submit|revoke|workers` and `motet inspect --color` against the suite's real cluster."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from examples.guide.tasks import add, fail, sleep_task, tsum
from motet import chord
from motet.exceptions import TaskRevokedError
from motet.result import AsyncResult
from tests.e2e.tasks import tracked_sleep


def _motet(cluster: Any, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOTET_SCHEDULER": cluster.scheduler, "MOTET_RESULTS": cluster.results}
    env.pop("MOTET_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "motet", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        input=stdin,
    )


def _error_line(out: subprocess.CompletedProcess[str], command: str) -> str:
    """The one error line a command printed on stderr (progress lines aside), no traceback."""
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith(f"motet {command}:")]
    assert len(errors) == 1, out.stderr
    return errors[0]


def _ids() -> tuple[str, str, str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"cli-a-{tag}", f"cli-b-{tag}", f"cli-sum-{tag}", f"cli-header-{tag}"


def _protobuf_chord(a: str, b: str, body: str, header: str) -> dict[str, Any]:
    """A chord in the protobuf JSON mapping, as grpcurl takes it (payloads in base64)."""
    args = {"encoding": "json", "data": "WzEsIDFd"}  # [1, 1]
    return {
        "canvas": {
            "chord": {
                "header": [
                    {"signature": {"task": add.name, "args": args, "options": {"taskId": a}}},
                    {
                        "signature": {
                            "task": add.name,
                            "args": {"encoding": "json", "data": "WzIsIDJd"},
                            "options": {"taskId": b},
                        }
                    },
                ],
                "body": {"signature": {"task": tsum.name, "options": {"taskId": body}}},
                "options": {"groupId": header},
            }
        }
    }


def _friendly_chord(a: str, b: str, body: str, header: str) -> dict[str, Any]:
    """The same chord with plain JSON arguments."""
    return {
        "chord": {
            "header": [
                {"signature": {"task": add.name, "args": [1, 1], "options": {"task_id": a}}},
                {"signature": {"task": add.name, "args": [2], "kwargs": {"y": 2}, "options": {"task_id": b}}},
            ],
            "body": {"signature": {"task": tsum.name, "options": {"task_id": body}}},
            "options": {"group_id": header},
        }
    }


def test_wait_on_a_chord_prints_its_value_and_shows_progress(cluster: Any) -> None:
    res = chord([add.s(1, 1), add.s(2, 2)], tsum.s())()
    out = _motet(cluster, "wait", res.id, "--timeout", "30")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == 6
    assert "1 of 1 done" in out.stderr and f"{tsum.name}[{res.id}] SUCCESS" in out.stderr


def test_wait_on_a_saved_group_counts_its_members(cluster: Any) -> None:
    header = chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)], tsum.s())().parent
    header.save()
    out = _motet(cluster, "wait", header.id, "--timeout", "30")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [2, 4, 6]
    assert re.search(r"^0 of 3 done$", out.stderr, flags=re.M) and "3 of 3 done" in out.stderr


def test_wait_on_a_failing_task_exits_1_with_one_error_line(cluster: Any) -> None:
    res = fail.delay()
    out = _motet(cluster, "wait", res.id, "--timeout", "30")
    assert out.returncode == 1, out.stderr
    line = _error_line(out, "wait")
    assert f"{fail.name}[{res.id}] failed: builtins.RuntimeError: fail" in line
    assert out.stdout == ""


def test_wait_times_out_with_exit_2(cluster: Any) -> None:
    res = sleep_task.delay(5.0)
    out = _motet(cluster, "wait", res.id, "--timeout", "0.5")
    assert out.returncode == 2, out.stderr
    assert "timed out" in _error_line(out, "wait")
    assert res.get(timeout=30) == 5.0


def test_graph_dot_of_a_chord_names_every_node_and_the_header_to_body_edge(cluster: Any, tmp_path: Path) -> None:
    a, b, body, header = _ids()
    (tmp_path / "chord.json").write_text(json.dumps(_protobuf_chord(a, b, body, header)))
    assert _motet(cluster, "submit", str(tmp_path / "chord.json"), "--wait").returncode == 0
    out = _motet(cluster, "graph", body, "--dot")
    assert out.returncode == 0, out.stderr
    dot = out.stdout
    assert dot.startswith("digraph motet {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    for node in (a, b, body, header):
        assert re.search(rf'^  "{node}" \[', dot, flags=re.M), (node, dot)
    assert f'"{header}" -> "{a}"' in dot and f'"{header}" -> "{b}"' in dot
    assert re.search(rf'"{header}" -> "{body}" \[label="chord"', dot), dot
    assert re.search(rf'"{body}" \[label="{re.escape(tsum.name)}\\nSUCCESS"', dot), dot
    text = _motet(cluster, "graph", body)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0] == f"group[{header}] (2 members)"
    assert f"    chord body: {tsum.name}[{body}] SUCCESS" in text.stdout.splitlines()
    unknown = _motet(cluster, "graph", "no-such-id")
    assert unknown.returncode == 1 and "nothing is known about no-such-id" in _error_line(unknown, "graph")


def test_submit_takes_the_protobuf_json_form_and_the_friendly_form_from_stdin(cluster: Any, tmp_path: Path) -> None:
    a, b, body, header = _ids()
    path = tmp_path / "chord.json"
    path.write_text(json.dumps(_protobuf_chord(a, b, body, header)))
    out = _motet(cluster, "submit", str(path))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"root_id": a, "result_id": body, "created": True}
    assert AsyncResult(body).get(timeout=30) == 6

    a, b, body, header = _ids()
    out = _motet(
        cluster, "submit", "-", "--wait", "--timeout", "30", stdin=json.dumps(_friendly_chord(a, b, body, header))
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == 6
    assert json.loads(out.stderr.splitlines()[0])["result_id"] == body
    assert "3 of 3 done" in out.stderr
    saved = _motet(cluster, "wait", header)  # submit saved the chord's header under its id
    assert saved.returncode == 0 and json.loads(saved.stdout) == [2, 4], saved.stderr


def test_submit_fills_missing_ids_and_reads_yaml(cluster: Any, tmp_path: Path) -> None:
    path = tmp_path / "group.yaml"  # PyYAML comes with the dev extra
    path.write_text(
        f"group:\n  tasks:\n    - signature: {{task: {add.name}, args: [1, 2]}}\n"
        f"    - signature: {{task: {add.name}, args: [3, 4]}}\n"
    )
    out = _motet(cluster, "submit", str(path), "--wait", "--timeout", "30")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [3, 7]
    # The group was saved under the id the scheduler gave it: the printed result id waits.
    sent = json.loads(out.stderr.splitlines()[0])
    again = _motet(cluster, "wait", sent["result_id"], "--timeout", "30")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == [3, 7]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"signature": {"task": "x", "args": [1]', "not JSON (line 1"),
        ('{"signature": {"task": "x", "nonsense": 1}}', "not a motet.v1.Canvas"),
        ("[1, 2]", "a canvas is an object"),
        (None, "cannot read"),
    ],
)
def test_submit_refuses_a_bad_file_on_one_line(
    cluster: Any, tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    out = _motet(cluster, "submit", str(path))
    assert out.returncode == 1
    assert expected in _error_line(out, "submit")
    assert out.stdout == ""
    waited = _motet(cluster, "submit", str(path), "--wait")
    assert waited.returncode == 3 and expected in _error_line(waited, "submit")


def test_submit_says_when_the_scheduler_refuses_the_canvas(cluster: Any) -> None:
    out = _motet(cluster, "submit", "-", stdin='{"chord": {"header": [{"signature": {"task": "x"}}]}}')
    assert out.returncode == 1
    assert "submitting the canvas" in _error_line(out, "submit")


def test_revoke_prints_the_count_and_the_result_reads_revoked(cluster: Any) -> None:
    res = sleep_task.apply_async((1.0,), countdown=60)
    out = _motet(cluster, "revoke", res.id)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "revoked 1 task"
    assert AsyncResult(res.id).state == "REVOKED"
    again = _motet(cluster, "revoke", res.id, "--terminate")
    assert again.returncode == 0 and re.fullmatch(r"revoked \d+ tasks? \(running ones terminated\)\n", again.stdout)


def test_revoke_terminate_stops_a_running_task_well_before_it_would_finish(cluster: Any) -> None:
    res = tracked_sleep.delay(20.0)
    deadline = time.monotonic() + 15
    while res.state != "STARTED":  # tracked: STARTED once a worker runs it
        assert time.monotonic() < deadline, f"{res.id} never started: {res.state}"
        time.sleep(0.05)
    revoked_at = time.monotonic()
    out = _motet(cluster, "revoke", res.id, "--terminate")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "revoked 1 task (running ones terminated)\n"
    with pytest.raises(TaskRevokedError):
        res.get(timeout=15)
    assert time.monotonic() - revoked_at < 10  # it would have slept on for ~20 s
    assert AsyncResult(res.id).state == "REVOKED"
    assert _motet(cluster, "inspect", res.id).stdout.startswith(f"{tracked_sleep.name}[{res.id}] REVOKED")


def test_workers_lists_the_cluster_workers_with_their_queue(cluster: Any) -> None:
    table = _motet(cluster, "workers")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["NAME", "QUEUES", "CONCURRENCY", "BUSY", "RESERVED", "DONE", "TASKS"]
    assert rows and all(re.match(r"\S+\s+\S*celery\S*\s+\d+\s+\d+\s+\d+\s+\d+\s+\S+", row) for row in rows), rows
    listed = _motet(cluster, "workers", "--json")
    assert listed.returncode == 0, listed.stderr
    workers = json.loads(listed.stdout)
    assert workers and any("celery" in w["queues"] and add.name in w["task_names"] for w in workers)
    assert {"busy", "reserved", "concurrency"} <= workers[0].keys()


def test_inspect_colours_only_on_a_terminal_or_when_asked(cluster: Any) -> None:
    res = add.delay(2, 3)
    assert res.get(timeout=30) == 5
    plain = _motet(cluster, "inspect", res.id)
    assert plain.returncode == 0, plain.stderr
    assert "\x1b[" not in plain.stdout
    assert re.fullmatch(
        rf"{re.escape(add.name)}\[{res.id}\] SUCCESS 5 \(done \d{{4}}-\d\d-\d\d [\d:.]+Z\)\n", plain.stdout
    )
    coloured = _motet(cluster, "inspect", res.id, "--color", "always")
    assert "\x1b[32mSUCCESS\x1b[0m" in coloured.stdout
    bad = _motet(cluster, "inspect", res.id, "--color", "sometimes")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_wait_for_an_id_never_seen_says_so_when_it_times_out(cluster: Any) -> None:
    out = _motet(cluster, "wait", "never-seen-id", "--timeout", "0.5")
    assert out.returncode == 2, out.stderr
    assert "nothing is known about never-seen-id: is the id right?" in out.stderr.splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "code"), [(["wait", "x"], 3), (["graph", "x"], 1), (["workers"], 1), (["revoke", "x"], 1)]
)
def test_an_unreachable_service_is_one_line(argv: list[str], code: int) -> None:
    from motet_server.ports import free_port

    env = {**os.environ, "MOTET_SCHEDULER": f"127.0.0.1:{free_port()}", "MOTET_RESULTS": f"127.0.0.1:{free_port()}"}
    out = subprocess.run(
        [sys.executable, "-m", "motet", *argv], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert out.returncode == code, out.stderr
    assert "no Motet service answers" in _error_line(out, argv[0])
