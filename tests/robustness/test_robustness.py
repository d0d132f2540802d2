"""Random canvases under injected faults, then a checker over the recorded history.

After etcd's tests/robustness: a cluster (3 etcd members, 2 scheduler replicas, results,
workers with thread and process pools), a seeded random workload, a fault thread that injects
every fault kind at least once, and a checker over what the tasks recorded and what the results
service answers. See tests/robustness/README.md.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.robustness.cluster import RobustCluster

pytestmark = [pytest.mark.robustness, pytest.mark.slow, pytest.mark.timeout(280)]

SEED = int(os.environ.get("MOTET_ROBUST_SEED", "20261201"))
SECONDS = float(os.environ.get("MOTET_ROBUST_SECONDS", "60"))
BLACKHOLE_SECONDS = float(os.environ.get("MOTET_ROBUST_BLACKHOLE", "6"))
UNKNOWN_OUTCOME_SECONDS = 5.5  # longer than the etcd client's 5 s deadline: requests time out
STRICT_READS = os.environ.get("MOTET_ROBUST_STRICT_READS", "1") == "1"
DRAIN_SECONDS = 90.0
MAX_DELIVERIES = 5  # scheduler/transitions.py: a task is handed out at most this often
WIDE_CHORD = 300  # members: its submission spills past one etcd txn (120 ops) into the outbox

# Every kind is injected at least once per run; `worker_latency` is an extra, milder one.
FAULT_KINDS = [
    "worker_sigkill",
    "worker_blackhole",
    "scheduler_sigkill",
    "scheduler_sigterm",
    "etcd_leader_kill",
    "results_restart",
    "scheduler_sigkill_mid_wide_submit",
    "etcd_unknown_outcome",
    "etcd_member_frozen",
]
EXTRA_FAULTS = [*FAULT_KINDS, "worker_latency", "worker_drop", "etcd_follower_kill"]


@dataclass
class Planned:
    """One submitted canvas and what the model says about it."""

    name: str
    kind: str
    result: Any = None
    expected: Any = None
    tags: list[str] = field(default_factory=list)  # must each run at least once
    retry_tags: list[str] = field(default_factory=list)  # must run with retries 0 and 1
    body_tag: str | None = None
    revoked: bool = False
    task_ids: list[str] = field(default_factory=list)
    submitted: bool = False


@dataclass
class Fault:
    kind: str
    target: str
    start: float
    end: float = 0.0


# -- workload ------------------------------------------------------------------------------


def _build(rng: random.Random, index: int, kind: str) -> tuple[Planned, Callable[[], Any]]:
    from motet import chord, group
    from tests.robustness.tasks import body, flaky, step, work

    name = f"c{index:04d}"
    p = Planned(name, kind)
    if kind == "task":
        p.tags = [f"{name}.0"]
        p.expected = p.tags[0]
        sig: Any = work.s(p.tags[0])
    elif kind == "chain":
        p.tags = [f"{name}.{i}" for i in range(rng.randint(2, 4))]
        p.expected = ">".join(p.tags)
        sig = work.s(p.tags[0])
        for tag in p.tags[1:]:
            sig = sig | step.s(tag)
    elif kind == "group":
        p.tags = [f"{name}.{i}" for i in range(rng.randint(2, 8))]
        p.expected = list(p.tags)
        sig = group(work.s(t) for t in p.tags)
    elif kind in ("chord", "wide_chord"):
        n = WIDE_CHORD if kind == "wide_chord" else rng.randint(2, 12)
        p.tags = [f"{name}.{i}" for i in range(n)]
        p.body_tag = f"{name}.body"
        p.expected = list(p.tags)
        sig = chord([work.s(t) for t in p.tags], body.s(p.body_tag))
    elif kind == "retry":
        p.retry_tags = [f"{name}.0"]
        p.expected = p.retry_tags[0]
        sig = flaky.s(p.retry_tags[0])
    elif kind == "revoke":
        p.revoked = True
        p.tags = [f"{name}.0"]
        sig = work.s(p.tags[0]).set(countdown=60)
    else:
        raise AssertionError(kind)
    return p, sig.apply_async


def _ids(result: Any) -> list[str]:
    """Every task id a result object knows from freeze: the chain's parents, a group's members."""
    out: list[str] = []
    todo = [result]
    while todo:
        r = todo.pop()
        if r is None:
            continue
        members = getattr(r, "results", None)
        if members is not None:
            todo.extend(members)
        elif getattr(r, "id", None):
            out.append(r.id)
        # Only what freeze knew: `AsyncResult.parent` would ask the results service.
        todo.append(getattr(r, "_known_parent", None))
    return out


def _retrying(call: Callable[[], Any], seconds: float = 40.0, retry: type[Exception] | None = None) -> Any:
    from motet.exceptions import MotetError

    retried: type[Exception] = retry or MotetError
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except retried:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _workload(rng: random.Random, stop_at: float, planned: list[Planned], errors: list[str]) -> None:
    kinds = ["task", "chain", "chain", "group", "chord", "chord", "retry"]
    index = 0
    wide_at = time.monotonic() + SECONDS * rng.uniform(0.2, 0.5)
    wide_done = revokes = 0
    while time.monotonic() < stop_at:
        if not wide_done and time.monotonic() >= wide_at:
            kind = "wide_chord"
            wide_done = 1
        elif revokes < 3 and rng.random() < 0.05:
            kind = "revoke"
            revokes += 1
        else:
            kind = rng.choice(kinds)
        p, submit = _build(rng, index, kind)
        index += 1
        planned.append(p)
        try:
            p.result = _retrying(submit)
            p.submitted = True
            p.task_ids = _ids(p.result)
            if p.revoked:
                _retrying(p.result.revoke)
        except Exception as exc:  # noqa: BLE001 - a submission that never got through is reported
            errors.append(f"{p.name} ({kind}): submission failed: {exc!r}")
        time.sleep(rng.uniform(0.1, 0.4))
    if not wide_done:
        p, submit = _build(rng, index, "wide_chord")
        planned.append(p)
        p.result = _retrying(submit)
        p.submitted = True
        p.task_ids = _ids(p.result)


def _reader(rng: random.Random, stop_at: float, planned: list[Planned], read_errors: list[str]) -> None:
    """Reads the state of random submitted tasks while faults happen (a client polling).

    An UNAVAILABLE answer is retried (the client's own retries, then ours for 10 s); any other
    error is recorded, and is a violation (README.md, "Defects found"), unless
    MOTET_ROBUST_STRICT_READS=0.
    """
    from motet import AsyncResult
    from motet.exceptions import MotetError, ServiceUnavailable

    while time.monotonic() < stop_at:
        time.sleep(0.1)
        ids = [i for p in planned[-50:] if p.submitted for i in p.task_ids]
        if not ids:
            continue
        task_id = rng.choice(ids)
        try:
            _retrying(lambda t=task_id: AsyncResult(t).state, seconds=10.0, retry=ServiceUnavailable)
        except MotetError as exc:
            read_errors.append(f"{time.strftime('%H:%M:%S')} reading {task_id}: {exc}")


# -- faults --------------------------------------------------------------------------------


def _inject(cluster: RobustCluster, rng: random.Random, kind: str, faults: list[Fault], planned: list[Planned]) -> str:
    if kind == "scheduler_sigkill_mid_wide_submit":
        # A 300-member chord is submitted to replica 0, which is killed while it writes the
        # submission's outbox parts (invariant 2: the reconciler of either replica finishes them).
        p, submit = _build(rng, 9000 + len(faults), "wide_chord")
        planned.append(p)

        def _submit() -> None:
            p.result = _retrying(submit)
            p.task_ids = _ids(p.result)
            p.submitted = True

        t = threading.Thread(target=_submit)
        t.start()
        time.sleep(rng.uniform(0.02, 0.2))
        s = cluster.schedulers[0]
        s.kill()
        s.stop()
        time.sleep(0.5)
        s.start()
        t.join(60)
        return s.name
    if kind == "worker_sigkill":
        # w0 (threads) and w1 (processes) in turn
        w = cluster.workers[sum(f.kind == "worker_sigkill" for f in faults) % 2]
        w.kill()
        w.stop()  # closes its log handle
        time.sleep(0.5)
        w.start()
        return w.name
    if kind in ("worker_blackhole", "worker_latency"):
        assert cluster.proxy is not None
        if kind == "worker_blackhole":
            cluster.proxy.set_mode("blackhole")
            time.sleep(BLACKHOLE_SECONDS)
        else:
            cluster.proxy.set_mode("latency", latency=0.1)
            time.sleep(4.0)
        cluster.proxy.set_mode("pass")
        cluster.proxy.drop()  # the worker sees its stream cut and reconnects
        return "w2"
    if kind == "worker_drop":
        assert cluster.proxy is not None
        cluster.proxy.drop()
        return "w2"
    if kind == "scheduler_sigkill":
        i = rng.randrange(2)
        s = cluster.schedulers[i]
        s.kill()
        s.stop()
        time.sleep(0.5)
        s.start()
        return s.name
    if kind == "scheduler_sigterm":
        for s in cluster.schedulers:  # a rolling restart
            s.stop()
            s.start()
            time.sleep(1.0)
        return "scheduler-0,scheduler-1"
    if kind in ("etcd_leader_kill", "etcd_follower_kill"):
        leader = cluster.etcd_leader()
        if kind == "etcd_leader_kill":
            i = leader if leader is not None else rng.randrange(3)
        else:
            i = rng.choice([j for j in range(3) if j != leader])
        e = cluster.etcds[i]
        e.kill()
        time.sleep(2.0)
        e.start()
        return f"{e.name}{' (leader)' if i == leader else ''}"
    if kind == "etcd_unknown_outcome":
        # Replica 0's requests reach etcd and are applied, their answers never come back: its
        # submissions, claims, hand-offs and reports time out with their outcome unknown (the
        # etcd client's deadline is 5 s). Then the connections are cut and it reconnects.
        # Once past the deadline, then in short bursts cut by a connection drop (each cuts the
        # txn in flight then: replica 0 commits through one loop, so one txn at a time).
        for hold in [UNKNOWN_OUTCOME_SECONDS] + [rng.uniform(0.05, 0.4) for _ in range(8)]:
            for proxy in cluster.etcd_proxies:
                proxy.set_mode("mute")
            time.sleep(hold)
            for proxy in cluster.etcd_proxies:
                proxy.set_mode("pass")
                proxy.drop()
            time.sleep(0.5)
        return "scheduler-0 -> etcd"
    if kind == "etcd_member_frozen":
        # SIGSTOP: the member neither sends nor answers (to peers and clients), as if its
        # network were cut; then it resumes, behind, and catches up (or steps down as leader).
        leader = cluster.etcd_leader()
        i = rng.randrange(3)
        e = cluster.etcds[i]
        assert e.pid is not None
        os.kill(e.pid, signal.SIGSTOP)
        try:
            time.sleep(3.0)
        finally:
            os.kill(e.pid, signal.SIGCONT)
        return f"{e.name}{' (leader)' if i == leader else ''}"
    if kind == "results_restart":
        assert cluster.results is not None
        cluster.results.stop()
        cluster.results.start()
        return "results"
    raise AssertionError(kind)


def _faults(
    cluster: RobustCluster,
    rng: random.Random,
    stop_at: float,
    faults: list[Fault],
    planned: list[Planned],
    errors: list[str],
) -> None:
    order = [*FAULT_KINDS, "worker_sigkill"]  # the second kill hits the other pool kind
    rng.shuffle(order)
    gap = float(os.environ.get("MOTET_ROBUST_FAULT_GAP", "0")) or SECONDS / (len(order) + 3)
    time.sleep(gap / 2)
    while time.monotonic() < stop_at or order:
        kind = order.pop(0) if order else rng.choice(EXTRA_FAULTS)
        fault = Fault(kind, "", time.time())
        try:
            fault.target = _inject(cluster, rng, kind, faults, planned)
        except Exception as exc:  # noqa: BLE001 - the harness failing is reported, not a Motet violation
            errors.append(f"fault {kind} could not be injected: {exc!r}")
        fault.end = time.time()
        faults.append(fault)
        if time.monotonic() < stop_at:
            time.sleep(rng.uniform(0.6, 1.2) * gap)


# -- checker -------------------------------------------------------------------------------


def _history(record_dir: Path) -> list[tuple[str, str, int, str, float]]:
    rows = []
    for path in record_dir.glob("exec-*"):
        for line in path.read_text().splitlines():
            tag, task_id, retries, worker, _pid, at = line.split()
            rows.append((tag, task_id, int(retries), worker, float(at)))
    return rows


def _wait_ended(p: Planned, deadline: float) -> tuple[str, Any]:
    """Waits for the canvas's final result: ('ok', value) / ('revoked', None) / ('bad', why)."""
    from motet.exceptions import MotetError

    res = p.result
    while True:
        left = deadline - time.monotonic()
        try:
            if p.revoked:
                state = res.state
                if state == "REVOKED":
                    return "revoked", None
                if left <= 0:
                    return "bad", f"revoked task still {state}"
                time.sleep(0.5)
                continue
            return "ok", res.get(timeout=max(left, 1.0))
        except MotetError as exc:
            if "Unavailable" in type(exc).__name__ and left > 0:
                time.sleep(0.5)
                continue
            return "bad", f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - a task failure is a violation, listed
            return "bad", f"{type(exc).__name__}: {exc}"


def _check(planned: list[Planned], faults: list[Fault], record_dir: Path) -> tuple[list[str], dict[str, int]]:
    from motet import AsyncResult

    violations: list[str] = []
    deadline = time.monotonic() + DRAIN_SECONDS
    for p in planned:
        if not p.submitted:
            continue
        outcome, value = _wait_ended(p, deadline)
        if outcome == "bad":
            violations.append(f"{p.name} ({p.kind}) did not end well: {value}")
        elif outcome == "ok" and value != p.expected:
            violations.append(f"{p.name} ({p.kind}) value {value!r:.200} != expected {p.expected!r:.200}")
    rows = _history(record_dir)
    by_tag: dict[str, list[tuple[str, int, str, float]]] = defaultdict(list)
    attempts: Counter[tuple[str, int]] = Counter()
    for tag, task_id, retries, worker, at in rows:
        by_tag[tag].append((task_id, retries, worker, at))
        attempts[(task_id, retries)] += 1
    for (task_id, retries), n in attempts.items():
        if n > MAX_DELIVERIES:
            violations.append(f"task {task_id} attempt {retries} ran {n} times (> {MAX_DELIVERIES})")
    windows = [(f.start - 1.0, f.end + 12.0) for f in faults]  # a fault's effects outlive it by a lease TTL
    tasks = 0
    for p in planned:
        if not p.submitted:
            continue
        tasks += len(p.tags) + len(p.retry_tags) + (1 if p.body_tag else 0)
        for tag in p.tags:
            ran = by_tag.get(tag, [])
            if p.revoked and ran:
                violations.append(f"{p.name}: revoked task {tag} ran {len(ran)} times")
            elif not p.revoked and not ran:
                violations.append(f"{p.name} ({p.kind}): task {tag} never ran (lost)")
        for tag in p.retry_tags:
            seen = {r for _, r, _, _ in by_tag.get(tag, [])}
            if not {0, 1} <= seen:
                violations.append(f"{p.name}: retried task {tag} ran attempts {sorted(seen)}, expected 0 and 1")
        if p.body_tag:
            runs = sorted(by_tag.get(p.body_tag, []), key=lambda r: r[3])
            if not runs:
                violations.append(f"{p.name} ({p.kind}): chord body never ran")
            elif len(runs) > 1:
                first, last = runs[0][3], runs[-1][3]
                explained = any(lo <= last and first <= hi for lo, hi in windows)
                if not explained:
                    violations.append(
                        f"{p.name} ({p.kind}): chord body ran {len(runs)} times with no fault near: {runs}"
                    )
        for task_id in p.task_ids:
            try:
                state = AsyncResult(task_id).state
            except Exception as exc:  # noqa: BLE001 - unreadable is a violation
                violations.append(f"{p.name}: result {task_id} unreadable: {exc!r}")
                continue
            if state not in ("SUCCESS", "REVOKED"):
                violations.append(f"{p.name} ({p.kind}): result {task_id} is {state}")
    counts = Counter(f.kind for f in faults)
    stats = {
        **{f"fault:{k}": counts.get(k, 0) for k in EXTRA_FAULTS},
        "canvases": sum(p.submitted for p in planned),
        "tasks": tasks,
        "executions": len(rows),
        "violations": len(violations),
    }
    return violations, stats


def test_random_canvases_under_faults(
    robust_cluster: RobustCluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from motet import state

    monkeypatch.setenv("MOTET_SCHEDULER", robust_cluster.scheduler_endpoints[0])
    monkeypatch.setenv("MOTET_RESULTS", robust_cluster.results_endpoint)
    saved_app = state._current
    from tests.robustness.tasks import app

    state.set_current_app(app)
    try:
        started = time.monotonic()
        stop_at = started + SECONDS
        planned: list[Planned] = []
        faults: list[Fault] = []
        harness: list[str] = []
        read_errors: list[str] = []
        threads = [
            threading.Thread(target=_reader, args=(random.Random(SEED + 2), stop_at, planned, read_errors)),
            threading.Thread(target=_workload, args=(random.Random(SEED), stop_at, planned, harness)),
            threading.Thread(
                target=_faults, args=(robust_cluster, random.Random(SEED + 1), stop_at, faults, planned, harness)
            ),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        violations, stats = _check(planned, faults, robust_cluster.record_dir)
        stats["reads_failed_during_faults"] = len(read_errors)
        # Claims that landed while their scheduler heard UNAVAILABLE, then sent by the reconcile.
        stats["unknown_outcome_claims_sent"] = sum(
            path.read_text(errors="replace").count("by a commit whose outcome was unknown")
            for path in robust_cluster.dir.glob("scheduler-*.log")
        )
        if STRICT_READS:
            violations += [f"read during a fault failed: {e}" for e in read_errors]
        stats["seconds"] = round(time.monotonic() - started)
    finally:
        if saved_app is not None:
            state.set_current_app(saved_app)
    with capsys.disabled():
        print(f"\nrobustness seed={SEED} " + " ".join(f"{k}={v}" for k, v in stats.items()))
        for f in faults:
            at = time.strftime("%H:%M:%S", time.localtime(f.start))
            print(f"  fault {f.kind} on {f.target} at {at} for {f.end - f.start:.1f} s")
        for e in read_errors:
            print(f"  read failed (known defect, README.md): {e}")
        for v in harness + violations:
            print(f"  ! {v}")
    assert not harness, "the harness failed:\n" + "\n".join(harness)
    assert not violations, f"{len(violations)} violations (seed {SEED}):\n" + "\n".join(violations[:50])
