"""`motet status` and `motet inspect ID` against the suite's real cluster."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from typing import Any

from examples.guide.tasks import add, fail, mul, sleep_task, tsum
from motet import chain, chord, group


def _motet(cluster: Any, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOTET_SCHEDULER": cluster.scheduler, "MOTET_RESULTS": cluster.results}
    return subprocess.run(
        [sys.executable, "-m", "motet", *argv], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_status_lists_the_services_and_each_worker_with_its_queues_and_slots(cluster: Any) -> None:
    running = sleep_task.delay(3.0)
    out = _motet(cluster, "status")
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(rf"scheduler\s+{re.escape(cluster.scheduler)}\s+SERVING", out.stdout)
    assert re.search(rf"results\s+{re.escape(cluster.results)}\s+SERVING", out.stdout)
    workers = re.findall(r"^  (\S+)  queues=(\S+)  slots (\d+)/(\d+) busy", out.stdout, flags=re.M)
    assert len(workers) >= 2, out.stdout
    assert all(queues.split(",").count("celery") == 1 for _, queues, _, _ in workers if "celery" in queues)
    assert "serves: " in out.stdout and add.name in out.stdout
    assert running.get(timeout=30) == 3.0


def test_status_says_so_when_nothing_listens() -> None:
    from motet_server.ports import free_port

    env = {**os.environ, "MOTET_SCHEDULER": f"127.0.0.1:{free_port()}", "MOTET_RESULTS": f"127.0.0.1:{free_port()}"}
    out = subprocess.run(
        [sys.executable, "-m", "motet", "status"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert out.returncode == 1
    assert "UNREACHABLE" in out.stdout and "motet dev --app" in out.stdout


def test_inspect_prints_a_workflow_as_a_tree_with_states(cluster: Any) -> None:
    res = chain(add.s(1, 1), mul.s(10), group(add.s(1), add.s(2)))()
    assert res.get(timeout=30) == [21, 22]
    root = res.parent.parent  # the first step: the root of the workflow
    out = _motet(cluster, "inspect", root.id)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    done = r"\(done \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z"
    assert re.fullmatch(rf"{re.escape(add.name)}\[{root.id}\] SUCCESS 2 {done}\)", lines[0]), lines[0]
    after = r", \d+\.\d{3}s after its parent\)"  # a child's time since its parent finished
    mul_line = rf"└── {re.escape(mul.name)}\[{res.parent.id}\] SUCCESS 20 {done}{after}"
    assert any(re.fullmatch(mul_line, line) for line in lines), out.stdout
    assert any("group[" in line and "(2 members)" in line for line in lines), out.stdout
    assert (
        sum(1 for line in lines if re.search(rf"{re.escape(add.name)}\[.*\] SUCCESS 2[12] {done}{after}$", line)) == 2
    )


def test_inspect_shows_a_failure_and_an_unknown_id(cluster: Any) -> None:
    res = chord([add.s(1, 1), fail.s()], tsum.s())()
    try:
        res.get(timeout=30)
    except Exception:  # noqa: BLE001 - the chord fails; its tree is what is inspected
        pass
    header = res.parent
    member = header.results[1]
    out = _motet(cluster, "inspect", member.id)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith(f"{fail.name}[{member.id}] FAILURE ")
    unknown = _motet(cluster, "inspect", "no-such-id")
    assert unknown.returncode == 1
    assert unknown.stdout == ""
    (line,) = unknown.stderr.splitlines()  # one line on stderr, as `motet wait` and `motet graph` print
    assert line.startswith("motet inspect: nothing is known about no-such-id"), unknown.stderr


def test_inspect_of_an_unreachable_service_is_one_line_on_stderr() -> None:
    from motet_server.ports import free_port

    env = {**os.environ, "MOTET_SCHEDULER": f"127.0.0.1:{free_port()}", "MOTET_RESULTS": f"127.0.0.1:{free_port()}"}
    out = subprocess.run(
        [sys.executable, "-m", "motet", "inspect", "some-id"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert out.stdout == "" and "Traceback" not in out.stderr
    (line,) = out.stderr.splitlines()
    assert line.startswith("motet inspect: ") and "no Motet service answers" in line, out.stderr


def _motet_on_a_terminal(cluster: Any, *argv: str, **env: str) -> tuple[int, str, str]:
    """Runs `motet ARGV` with its stdout on a pseudo-terminal (no --color, no MOTET_COLOR or
    NO_COLOR unless given in `env`): its exit code, what it wrote there, and its stderr."""
    environ = {**os.environ, "MOTET_SCHEDULER": cluster.scheduler, "MOTET_RESULTS": cluster.results}
    for name in ("MOTET_COLOR", "NO_COLOR"):
        environ.pop(name, None)
    main, terminal = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "motet", *argv],
        stdin=subprocess.DEVNULL, stdout=terminal, stderr=subprocess.PIPE, env=environ | env,
    ) as proc:  # fmt: skip
        os.close(terminal)  # the child holds the terminal's only writer now
        output = b""
        deadline = time.monotonic() + 60
        try:
            while select.select([main], [], [], max(deadline - time.monotonic(), 0))[0]:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
        finally:
            os.close(main)
            if proc.returncode is None:
                proc.kill()
        assert proc.stderr is not None
        return code, output.decode(), proc.stderr.read().decode()


def test_inspect_colours_on_a_terminal_unless_no_color(cluster: Any) -> None:
    res = add.delay(4, 4)
    assert res.get(timeout=30) == 8
    code, coloured, err = _motet_on_a_terminal(cluster, "inspect", res.id)
    assert code == 0, err
    assert "\x1b[32mSUCCESS\x1b[0m" in coloured, repr(coloured)  # --color auto, on a terminal
    assert f"{add.name}[{res.id}]" in coloured
    code, plain, err = _motet_on_a_terminal(cluster, "inspect", res.id, NO_COLOR="1")
    assert code == 0, err
    assert "\x1b[" not in plain, repr(plain)
    assert re.fullmatch(rf"{re.escape(add.name)}\[{res.id}\] SUCCESS 8 \(done [^)]*\)\r?\n", plain), repr(plain)
