"""Fixtures of the conformance suite (real Celery 5.7 + Redis on one side, a real Motet cluster
on the other) and the session summary (the match rate).

Everything is package-scoped: the processes stop when the last conformance test has run, by pid.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.corpus import load
from tests.conformance.outcomes import OUTCOMES
from tests.conformance.services import LAST_RUN, CeleryRunner, CeleryWorker, Redis, celery_env, ensure_celery_venv

PROGRAMS = load()
SELECTED_KEY = pytest.StashKey[list[str]]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remembers which programs were selected (after -k / -m), so Celery runs only those."""
    names = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "name" in callspec.params and item.get_closest_marker("conformance"):
            names.append(callspec.params["name"])
    session.config.stash[SELECTED_KEY] = names


@pytest.fixture(scope="package")
def conformance_dir() -> Iterator[Path]:
    shutil.rmtree(LAST_RUN, ignore_errors=True)
    LAST_RUN.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="motet-conformance-") as d:
        yield Path(d)
        for name in ("celery-observations.jsonl", "celery-runner.log", "celery-worker.log"):
            if (Path(d) / name).exists():
                shutil.copy(Path(d) / name, LAST_RUN / name)


@pytest.fixture(scope="package")
def celery_side(request: pytest.FixtureRequest, conformance_dir: Path) -> Iterator[CeleryRunner]:
    """Real Celery: the venv, redis-server, a worker, and the runner already working through the
    corpus (in the background, in corpus order) while the Motet side runs."""
    python = ensure_celery_venv()
    records = conformance_dir / "celery-records"
    records.mkdir()
    redis = Redis(conformance_dir).start()
    worker = runner = None
    try:
        env = celery_env(python, redis, records)
        worker = CeleryWorker(python, env, conformance_dir).start()
        names = request.config.stash.get(SELECTED_KEY, []) or list(PROGRAMS)
        runner = CeleryRunner(python, env, conformance_dir, names).start()
        yield runner
    finally:
        if runner is not None:
            runner.stop()
        if worker is not None:
            worker.stop()
        redis.stop()


@pytest.fixture(scope="package")
def motet_side(conformance_dir: Path) -> Iterator[Any]:
    """A real Motet cluster (etcd, scheduler, results, one worker with 8 threads on celery,q2)
    whose worker loads the conformance tasks; returns the Motet `System`."""
    from motet_server.devcluster import DevCluster
    from motet_server.ports import free_port

    records = conformance_dir / "motet-records"
    records.mkdir()
    saved = {k: os.environ.get(k) for k in ("MOTET_SCHEDULER", "MOTET_RESULTS", "CONF_RECORD_DIR")}
    os.environ["CONF_RECORD_DIR"] = str(records)
    # The endpoints are chosen before the cluster starts (ports="env") so that the worker's own
    # environment has them too: tasks that send tasks (spawn, get_inside, replace) need them, as a
    # Celery worker's tasks reach the broker through the worker's app.
    os.environ["MOTET_SCHEDULER"] = f"127.0.0.1:{free_port()}"
    os.environ["MOTET_RESULTS"] = f"127.0.0.1:{free_port()}"
    env = {"CONF_RECORD_DIR": str(records)}
    try:
        with DevCluster(
            app="tests.conformance.motet_app", ports="env", workers=1, concurrency=8, queues="celery,q2", env=env
        ):
            from tests.conformance.motet_app import system

            yield system()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not OUTCOMES:
        return
    counts: dict[str, int] = {}
    for outcome in OUTCOMES.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    compared = len(OUTCOMES) - counts.get("error", 0)
    same = counts.get("match", 0)
    deliberate = counts.get("deliberate", 0)
    tr = terminalreporter
    tr.write_sep("=", "conformance: Motet vs Celery 5.7")
    tr.write_line(
        f"matched {same + deliberate}/{compared} compared programs "
        f"({100.0 * (same + deliberate) / max(compared, 1):.1f}%): "
        f"{same} identical to Celery, {deliberate} deliberate differences as declared"
    )
    tr.write_line(
        f"mismatches {counts.get('mismatch', 0)}, known mismatches (expected failures) {counts.get('known', 0)}, "
        f"deliberate differences not as declared {counts.get('deliberate-broken', 0)}, "
        f"harness errors {counts.get('error', 0)}"
    )
    for outcome in ("mismatch", "known", "known-now-matches", "deliberate-broken", "error"):
        names = sorted(n for n, o in OUTCOMES.items() if o == outcome)
        if names:
            tr.write_line(f"{outcome}: {', '.join(names)}")
