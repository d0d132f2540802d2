"""A real Prometheus (Debian's `prometheus`, started on a free loopback port with its own data
dir) scrapes the suite's running cluster: every series the README's metrics table documents is
there, queried through Prometheus's HTTP API, carrying the namespace label; and `promtool check
metrics` finds nothing to lint in any service's exposition."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.guide.tasks import add, tsum
from motet import chord
from motet_server.ports import free_port

README = Path(__file__).resolve().parents[2] / "README.md"


def _documented() -> dict[str, str]:
    """Metric name -> the process kind whose row documents it, from the README's table."""
    text = README.read_text()
    table = text[text.index("| Series | Type | Moves when |") :]
    table = table[: table.index("\n\n")]
    out: dict[str, str] = {}
    kind = ""
    for line in table.splitlines():
        header = re.match(r"\| \*\*`([^`]+)`", line)
        if header:
            kind = header.group(1)
            continue
        for name in re.findall(r"`((?:motet|grpc)_[a-z_]+)", line.split("|")[1] if line.startswith("|") else ""):
            out[name] = kind
    return out


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as reply:
        body = json.loads(reply.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


@pytest.fixture(scope="module")
def prometheus(cluster: Any) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "Prometheus is needed (make test installs Debian's prometheus)"
    if not getattr(cluster, "scheduler_metrics", ""):
        pytest.fail("the cluster does not say where its metrics are")
    folder = Path(tempfile.mkdtemp(prefix="motet-prometheus-"))
    targets = {
        "scheduler": [cluster.scheduler_metrics],
        "results": [cluster.results_metrics],
        "worker": list(cluster.worker_metrics),
    }
    jobs = "".join(
        f"  - job_name: {job}\n    static_configs:\n      - targets: {json.dumps(eps)}\n"
        for job, eps in targets.items()
    )
    (folder / "prometheus.yml").write_text(f"global:\n  scrape_interval: 1s\nscrape_configs:\n{jobs}")
    port = free_port()
    log = open(folder / "prometheus.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [binary, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # every target scraped and up (2.42 waits a few seconds before its first scrape)
            try:
                up = _query(base, "up")
                if len(up) == sum(map(len, targets.values())) and all(r["value"][1] == "1" for r in up):
                    break
            except OSError:
                pass
            assert proc.poll() is None, (folder / "prometheus.log").read_text()
            assert time.monotonic() < deadline, (
                f"Prometheus never scraped every target: {(folder / 'prometheus.log').read_text()[-2000:]}"
            )
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_prometheus_scrapes_every_documented_series(prometheus: str, cluster: Any) -> None:
    # Work that moves the series: a chord (dispatch, joins, run times, queue wait, end to end).
    assert chord(add.s(i, i) for i in range(10))(tsum.s()).get(timeout=30) == 90
    documented = _documented()
    assert len(documented) >= 25, documented
    jobs = {"motet scheduler": "scheduler", "motet results": "results", "motet worker --metrics": "worker"}
    deadline = time.monotonic() + 30
    missing: list[str] = []
    while time.monotonic() < deadline:
        missing = []
        for name, kind in documented.items():
            job = jobs.get(kind, "scheduler")  # "scheduler and results": the gRPC series
            series = _query(prometheus, f'{{__name__=~"{name}(_count)?", job="{job}"}}')
            if not series:
                missing.append(f"{name} ({job})")
        if not missing:
            break
        time.sleep(1)
    assert not missing, f"documented but not scraped: {missing}"
    # The scheduler's and results' series carry their namespace.
    assert _query(prometheus, 'count(motet_tasks_submitted_total{namespace!="default"})') == []
    # (An instant value: a rate needs two scrapes, and the first may already follow the chord.)
    dispatched = _query(prometheus, 'sum(motet_task_transitions_total{to="DISPATCHED", job="scheduler"})')
    assert dispatched and float(dispatched[0]["value"][1]) >= 11
    grpc_ok = _query(prometheus, 'sum(grpc_server_handled_total{grpc_method="SubmitCanvas", grpc_code="OK"})')
    assert grpc_ok and float(grpc_ok[0]["value"][1]) >= 1


def test_promtool_finds_nothing_to_lint(cluster: Any) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus"
    for endpoint in [cluster.scheduler_metrics, cluster.results_metrics, *cluster.worker_metrics]:
        with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as reply:
            text = reply.read()
        done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30)
        assert done.returncode == 0, f"{endpoint}: {done.stdout.decode()}{done.stderr.decode()}"
