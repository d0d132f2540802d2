"""Programs for CELERY-SEMANTICS §2.11 (options and how they propagate into members) and the
settings of §1.11 that a client can observe. Timings are reduced to coarse booleans."""

from __future__ import annotations

import datetime as dt
import time
import uuid

from tests.conformance.corpus import Differs, program


def _delayed(started: float, at: object, seconds: float) -> object:
    """Whether a wall_clock value `at` is at least `seconds` (less a margin) after `started`."""
    if not isinstance(at, float):
        return at
    return at - started >= seconds - 0.15


# -- countdown / eta ------------------------------------------------------------------------------


@program("2.11")
def countdown_task(c):
    start = time.time()
    res = c.t.wall_clock.apply_async(countdown=1)
    return {"delayed": _delayed(start, c.get(res), 1)}


@program("2.11")
def eta_task(c):
    start = time.time()
    res = c.t.wall_clock.apply_async(eta=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    return {"delayed": _delayed(start, c.get(res), 1)}


@program("2.11")
def countdown_chain_delays_its_start(c):
    start = time.time()
    res = (c.t.wall_clock.s() | c.t.wall_clock.s()).apply_async(countdown=1)
    return {"first": _delayed(start, c.get(res.parent), 1), "last": _delayed(start, c.get(res), 1)}


@program("2.11")
def countdown_group_every_member(c):
    start = time.time()
    res = c.group(c.t.wall_clock.s(), c.t.wall_clock.s()).apply_async(countdown=1)
    values = c.get(res)
    return {"delayed": [_delayed(start, v, 1) for v in values] if isinstance(values, list) else values}


@program("2.11")
def countdown_chord_delays_header(c):
    start = time.time()
    res = c.chord([c.t.wall_clock.s(), c.t.wall_clock.s()], c.t.identity.s()).apply_async(countdown=1)
    values = c.get(res)
    took = time.time() - start
    return {
        "header_delayed": [_delayed(start, v, 1) for v in values] if isinstance(values, list) else values,
        "body_soon_after": took < 3.5,
    }


@program("2.11")
def countdown_set_on_signature(c):
    start = time.time()
    res = c.t.wall_clock.s().set(countdown=1).delay()
    return {"delayed": _delayed(start, c.get(res), 1)}


# -- expires -------------------------------------------------------------------------------------


@program("2.11")
def expires_chain_first_message(c):
    res = (c.t.add.s(1, 1) | c.t.add.s(1)).apply_async(expires=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5))
    c.sleep(0.5)
    return {"get": c.get(res, timeout=3), "first_state": c.state(res.parent)}


@program("2.11")
def expires_group_every_member(c):
    res = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2)).apply_async(
        expires=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    )
    c.sleep(0.5)
    return {"states": [c.state(r) for r in res.results]}


# -- task_id -------------------------------------------------------------------------------------


@program("2.11")
def task_id_on_task(c):
    ident = str(uuid.uuid4())
    c.label(ident, "given")
    res = c.t.add.apply_async((1, 1), task_id=ident)
    return {"id": res.id, "value": c.get(res), "fresh": c.get(c.app.AsyncResult(ident))}


@program("2.11")
def task_id_on_chain_is_last(c):
    ident = str(uuid.uuid4())
    c.label(ident, "given")
    res = (c.t.add.s(1, 1) | c.t.add.s(1)).apply_async(task_id=ident)
    return {"id": res.id, "parent_is_given": res.parent.id == ident, "value": c.get(res)}


# -- queue / routing -------------------------------------------------------------------------------


@program("2.11")
def queue_on_task(c):
    res = c.t.req_info.apply_async(queue="q2")
    got = c.get(res)
    return {"queue": got.get("queue") if isinstance(got, dict) else got}


@program(
    "2.11",
    differs=Differs(
        design=5,
        why="options set on a chain reach every member (Celery: first message only, #5219 #7738)",
        celery={"queues": ["q2", "celery", "celery"]},
        motet={"queues": ["q2", "q2", "q2"]},
    ),
)
def queue_on_chain_apply_async(c):
    res = (c.t.req_info.si() | c.t.req_info.si() | c.t.req_info.si()).apply_async(queue="q2")
    values = [c.get(res.parent.parent), c.get(res.parent), c.get(res)]
    return {"queues": [v.get("queue") if isinstance(v, dict) else v for v in values]}


@program(
    "2.11",
    differs=Differs(
        design=5,
        why="options set on a chain reach every member (Celery: first message only)",
        celery={"queues": ["q2", "celery"]},
        motet={"queues": ["q2", "q2"]},
    ),
)
def queue_on_chain_set(c):
    ch = (c.t.req_info.si() | c.t.req_info.si()).set(queue="q2")
    res = ch.delay()
    values = [c.get(res.parent), c.get(res)]
    return {"queues": [v.get("queue") if isinstance(v, dict) else v for v in values]}


@program("2.11")
def queue_on_chain_member_kept(c):
    res = (c.t.req_info.si() | c.t.req_info.si().set(queue="q2")).delay()
    values = [c.get(res.parent), c.get(res)]
    return {"queues": [v.get("queue") if isinstance(v, dict) else v for v in values]}


@program("2.11")
def queue_on_group_every_member(c):
    res = c.group(c.t.req_info.si(), c.t.req_info.si()).apply_async(queue="q2")
    values = c.get(res)
    return {"queues": [v.get("queue") for v in values] if isinstance(values, list) else values}


@program("2.11")
def queue_on_chord_header_and_body(c):
    res = c.chord([c.t.req_info.si(), c.t.req_info.si()], c.t.req_info.s()).apply_async(queue="q2")
    body = c.get(res)
    header = c.get(res.parent)
    return {
        "header": [v.get("queue") for v in header] if isinstance(header, list) else header,
        "body": body.get("queue") if isinstance(body, dict) else body,
    }


@program("2.11", timeout=1.5)
def queue_unserved_stays_pending(c):
    res = c.t.add.apply_async((1, 1), queue="nobody-listens")
    return {"get": c.get(res), "state": c.state(res)}


# -- priority / retries ----------------------------------------------------------------------------


@program("2.11")
def priority_on_task(c):
    res = c.t.req_info.apply_async(priority=5)
    got = c.get(res)
    return {"priority": got.get("priority") if isinstance(got, dict) else got}


@program(
    "2.11",
    differs=Differs(
        design=5,
        why="options set on a chain (priority) reach every member (Celery: first message only)",
        celery={"priorities": [5, 0]},
        motet={"priorities": [5, 5]},
    ),
)
def priority_on_chain(c):
    res = (c.t.req_info.si() | c.t.req_info.si()).apply_async(priority=5)
    values = [c.get(res.parent), c.get(res)]
    return {"priorities": [v.get("priority") if isinstance(v, dict) else v for v in values]}


@program("2.11")
def retries_option_on_task(c):
    res = c.t.req_info.apply_async(retries=3)
    got = c.get(res)
    return {"retries": got.get("retries") if isinstance(got, dict) else got}


@program("2.11")
def retries_option_on_group(c):
    res = c.group(c.t.req_info.si(), c.t.req_info.si()).apply_async(retries=2)
    values = c.get(res)
    return {"retries": [v.get("retries") for v in values] if isinstance(values, list) else values}


# -- ignore_result / link options -----------------------------------------------------------------


@program("2.11")
def ignore_result_chord_member_still_feeds_body(c):
    ch = c.chord([c.t.add.s(1, 1).set(ignore_result=True), c.t.add.s(2, 2)], c.t.xsum.s())
    return {"value": c.get(ch.delay())}


@program("2.11")
def link_option_on_task_apply_async(c):
    res = c.t.add.apply_async((3, 3), link=c.rec("cb"), link_error=c.err_new("eb"))
    return {"value": c.get(res), "cb": c.records("cb"), "eb": c.count("eb", n=1, timeout=0.5)}


@program("1.11")
def inherit_parent_priority_off(c):
    res = (c.t.req_info.si().set(priority=3) | c.t.req_info.si()).delay()
    values = [c.get(res.parent), c.get(res)]
    return {"priorities": [v.get("priority") if isinstance(v, dict) else v for v in values]}


@program(
    "2.11",
    differs=Differs(
        design=5,
        why="options set on a chain (retries) reach every member (Celery: first message only)",
        celery={"retries": [2, 0]},
        motet={"retries": [2, 2]},
    ),
)
def retries_option_on_chain(c):
    res = (c.t.req_info.si() | c.t.req_info.si()).apply_async(retries=2)
    values = [c.get(res.parent), c.get(res)]
    return {"retries": [v.get("retries") if isinstance(v, dict) else v for v in values]}


@program("2.11")
def priority_on_group_every_member(c):
    res = c.group(c.t.req_info.si(), c.t.req_info.si()).apply_async(priority=4)
    values = c.get(res)
    return {"priorities": [v.get("priority") for v in values] if isinstance(values, list) else values}


@program("2.11")
def priority_on_chord_header_and_body(c):
    res = c.chord([c.t.req_info.si(), c.t.req_info.si()], c.t.req_info.s()).apply_async(priority=4)
    body = c.get(res)
    header = c.get(res.parent)
    return {
        "header": [v.get("priority") for v in header] if isinstance(header, list) else header,
        "body": body.get("priority") if isinstance(body, dict) else body,
    }


@program("2.11")
def expires_chord_header_and_body(c):
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    res = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.xsum.s()).apply_async(expires=past)
    c.sleep(0.5)
    return {"header_states": [c.state(r) for r in res.parent.results], "get": c.get(res, timeout=3)}


@program("2.11")
def retries_option_on_chord(c):
    res = c.chord([c.t.req_info.si()], c.t.req_info.s()).apply_async(retries=2)
    body = c.get(res)
    header = c.get(res.parent)
    return {
        "header": [v.get("retries") for v in header] if isinstance(header, list) else header,
        "body": body.get("retries") if isinstance(body, dict) else body,
    }


@program("1.11")
def always_eager_setting(c):
    conf = getattr(c.app, "conf", None)
    if conf is None:
        return {"cls": {"raised": "AttributeError", "msg": "the app has no conf"}}
    try:
        conf.task_always_eager = True
        res = (c.t.add.s(1, 1) | c.t.add.s(1)).delay()
        return {"cls": c.cls(res), "value": c.get(res)}
    finally:
        conf.task_always_eager = False
