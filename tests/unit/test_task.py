"""Task: naming, inline calls, the request stack, retry and replace (the worker's contract)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

import motet.app
import motet.state
from motet import App, chain
from motet.exceptions import CanvasError, MaxRetriesExceededError, Replace, Retry
from tests.unit.tasks import add, app, flaky, replacer, whoami


def test_names_follow_celery() -> None:
    assert add.name == "tests.unit.tasks.add"
    assert app.tasks[add.name] is add
    assert app.task(name="custom.name")(lambda: 1).name == "custom.name"

    def main_task() -> int:
        return 1

    main_task.__module__ = "__main__"
    assert app.task(main_task).name == "proj.main_task"


def test_task_options_are_attributes() -> None:
    t = app.task(
        name="opts",
        max_retries=None,
        default_retry_delay=1,
        autoretry_for=(KeyError,),
        retry_backoff=True,
        retry_backoff_max=9,
        retry_jitter=True,
        ignore_result=True,
        queue="q",
        time_limit=5,
        soft_time_limit=4,
        acks_late=True,
    )(lambda: None)
    assert (t.max_retries, t.default_retry_delay, t.autoretry_for, t.retry_backoff, t.retry_backoff_max) == (
        None,
        1,
        (KeyError,),
        True,
        9,
    )
    assert (t.retry_jitter, t.ignore_result, t.queue, t.time_limit, t.soft_time_limit) == (True, True, "q", 5, 4)
    assert (flaky.bind, flaky.max_retries, flaky.default_retry_delay) == (True, 2, 7)


def test_a_direct_call_runs_under_a_called_directly_request() -> None:
    assert whoami() == {"id": None, "called_directly": True, "args": []}
    assert whoami.request.id is None  # popped again


def test_the_worker_request_is_what_a_bound_task_sees() -> None:
    whoami.push_request(
        id="t1",
        root_id="r",
        parent_id="p",
        group_id="g",
        group_index=2,
        retries=1,
        delivery_info={"routing_key": "celery", "priority": 0},
        args=[],
        kwargs={},
    )
    try:
        assert whoami() == {"id": "t1", "called_directly": False, "args": []}
        r = whoami.request
        assert (r.root_id, r.parent_id, r.group_id, r.group, r.group_index, r.retries) == ("r", "p", "g", "g", 2, 1)
        assert r.delivery_info == {"routing_key": "celery", "priority": 0}
        assert r.max_retries == whoami.max_retries == 3
        assert r.get("hostname") is None and r.get("nope", 5) == 5
    finally:
        whoami.pop_request()
    assert whoami.request.id is None


def test_requests_are_per_thread() -> None:
    seen: list[Any] = []
    whoami.push_request(id="main")
    try:
        t = threading.Thread(target=lambda: seen.append(whoami.request.id))
        t.start()
        t.join()
    finally:
        whoami.pop_request()
    assert seen == [None]


def test_retry_raises_retry_with_the_default_delay() -> None:
    flaky.push_request(id="t", retries=0)
    try:
        with pytest.raises(Retry) as info:
            flaky(1)
    finally:
        flaky.pop_request()
    assert info.value.countdown == 7 and isinstance(info.value.exc, RuntimeError)
    assert "Retry in 7s" in str(info.value)


def test_retry_past_the_limit_reraises_the_error() -> None:
    flaky.push_request(id="t", retries=2)
    try:
        with pytest.raises(RuntimeError, match="flaky 1"):
            flaky(1)
    finally:
        flaky.pop_request()


def test_retry_without_an_error_past_the_limit_is_max_retries_exceeded() -> None:
    flaky.push_request(id="t", retries=5, max_retries=5)
    try:
        with pytest.raises(MaxRetriesExceededError, match=r"Can't retry tests.unit.tasks.flaky\[t\]"):
            flaky.retry()
        with pytest.raises(Retry) as info:
            flaky.retry(max_retries=10, countdown=1, args=(2,))
        assert (info.value.max_retries, info.value.countdown, info.value.retry_args) == (10, 1, (2,))
    finally:
        flaky.pop_request()


def test_unlimited_retries() -> None:
    flaky.push_request(id="t", retries=100, max_retries=-1)
    try:
        with pytest.raises(Retry):
            flaky.retry()
    finally:
        flaky.pop_request()


def test_retry_at_an_eta_gives_a_countdown() -> None:
    flaky.push_request(id="t")
    try:
        with pytest.raises(Retry) as info:
            flaky.retry(eta=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
    finally:
        flaky.pop_request()
    assert info.value.countdown is not None and 25 < info.value.countdown <= 30 and info.value.when is not None


def test_retry_of_a_directly_called_task_raises_its_error() -> None:
    with pytest.raises(RuntimeError, match="flaky 3"):
        flaky(3)


def test_replace_raises_replace_with_the_signature() -> None:
    replacer.push_request(id="t")
    try:
        with pytest.raises(Replace) as info:
            replacer(2)
    finally:
        replacer.pop_request()
    assert isinstance(info.value.sig, chain)
    assert Replace(sig=info.value.sig).sig is info.value.sig


def test_apply_runs_inline_and_records_failures() -> None:
    from tests.unit.tasks import raising_task

    ok = add.apply((2, 2))
    assert ok.get() == 4 and ok.successful() and ok.state == "SUCCESS"
    bad = raising_task.apply()
    assert bad.failed() and isinstance(bad.result, ValueError) and "ValueError" in (bad.traceback or "")
    with pytest.raises(ValueError):
        bad.get()
    assert isinstance(bad.get(propagate=False), ValueError)


def test_the_last_app_created_is_the_current_app() -> None:
    previous = motet.state._current
    try:
        other = App("other", scheduler="h:1", results="h:2", namespace="ns")
        assert motet.app.current_app() is other
        assert (other.scheduler, other.results, other.namespace) == ("h:1", "h:2", "ns")
        aside = App("aside", set_as_current=False)  # Celery's set_as_current
        assert motet.app.current_app() is other and aside is not other
    finally:
        motet.state._current = previous


def test_endpoints_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MOTET_SCHEDULER", "MOTET_RESULTS", "MOTET_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    previous = motet.state._current
    try:
        a = App("env")
        assert (a.scheduler, a.results, a.namespace) == ("127.0.0.1:7410", "127.0.0.1:7411", None)
        monkeypatch.setenv("MOTET_SCHEDULER", "s:1")
        monkeypatch.setenv("MOTET_RESULTS", "r:2")
        assert (a.scheduler, a.results) == ("s:1", "r:2")
    finally:
        motet.state._current = previous


def test_app_signature_names_any_task() -> None:
    s = app.signature("billing.charge", args=[42], queue="billing")
    assert (s.task, s.args, s.options, s.app, s.type) == ("billing.charge", (42,), {"queue": "billing"}, app, None)
    with pytest.raises(CanvasError):
        app.signature("billing.charge", nope=1)


def test_the_current_worker_request_is_the_innermost_task_a_worker_runs_in_this_thread() -> None:
    assert motet.state.current_worker_request() is None
    add.push_request(id="outer", root_id="root")
    try:
        assert motet.state.current_worker_request().id == "outer"
        assert add(1, 2) == 3  # a direct call inside runs in the worker's request
        whoami.push_request(id="inner")
        assert motet.state.current_worker_request().id == "inner"
        whoami.pop_request()
        assert motet.state.current_worker_request().id == "outer"
        assert add.apply((1, 1)).get() == 2  # eager: not a worker's task
        seen: list[Any] = []
        other = threading.Thread(target=lambda: seen.append(motet.state.current_worker_request()))
        other.start()
        other.join()
        assert seen == [None]  # per thread
    finally:
        add.pop_request()
    assert motet.state.current_worker_request() is None
    add(1, 1)  # called directly: its own request does not count
    assert motet.state.current_worker_request() is None
