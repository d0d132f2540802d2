"""Every example of the Celery canvas guide, as data: what to run and the value the guide gives.

`make run` prints each result beside the guide's value through a real local cluster, and
`tests/e2e/test_guide.py` asserts the same list, so the demo and the tests cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from examples.guide.tasks import (
    add,
    create_user,
    fail,
    import_contact,
    import_contacts,
    log_error,
    log_result,
    mul,
    notify_complete,
    on_chord_error,
    raising_task,
    reset_buffers,
    send_welcome_email,
    tsum,
    xsum,
)
from motet import chain, chord, group, signature
from motet.exceptions import ChordError

__all__ = ["EXAMPLES", "Example"]

T = 30  # seconds any one result may take


@dataclass(frozen=True)
class Example:
    """One guide example: a title, how to run it, and what the guide says it gives."""

    title: str
    run: Callable[[], object]
    expected: object
    slow: bool = False


def _records(kind: str) -> list[str]:
    path = os.path.join(os.environ.get("MOTET_TEST_RECORD_DIR", ""), kind)
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return fh.read().splitlines()


def _signature_by_name() -> object:
    return signature(add.name, args=(2, 2), countdown=0).delay().get(timeout=T)


def _inline() -> object:
    return (add(2, 2), add.s(2, 2)())


def _partials() -> object:
    partial = add.s(2)
    return (partial.delay(4).get(timeout=T), partial.apply_async((4,)).get(timeout=T))


def _kwargs_merge() -> object:
    s = add.s(2, 2)
    return (s.delay(debug=True).get(timeout=T), s.apply_async(kwargs={"debug": True}).get(timeout=T))


def _options_merge() -> object:
    s = add.signature((2, 2), countdown=10)
    return s.apply_async(countdown=1).get(timeout=T)


def _clone() -> object:
    s = add.s(2).clone(args=(4,), kwargs={"debug": True})
    return (s.args, s.kwargs, s.delay().get(timeout=T))


def _immutable_link() -> object:
    res = add.apply_async((2, 2), link=reset_buffers.si())
    return (res.get(timeout=T), res.children[0].get(timeout=T))


def _partial_link() -> object:
    res = add.apply_async((2, 2), link=add.s(8))
    return (res.get(timeout=T), res.children[0].get(timeout=T))


def _invert() -> object:
    return ~add.s(2, 2)


def _simple_chain() -> object:
    return (
        chain(add.s(2, 2), add.s(4), add.s(8))().get(timeout=T),
        (add.s(2, 2) | add.s(4) | add.s(8))().get(timeout=T),
    )


def _immutable_chain() -> object:
    res = (add.si(2, 2) | add.si(4, 4) | add.si(8, 8))()
    return (res.get(timeout=T), res.parent.get(timeout=T), res.parent.parent.get(timeout=T))


def _simple_group() -> object:
    return group(add.s(i, i) for i in range(10))().get(timeout=T)


def _simple_chord() -> object:
    return chord((add.s(i, i) for i in range(10)), xsum.s())().get(timeout=T)


def _immutable_body() -> object:
    contacts = ["ann", "bob", "cy"]
    return chord((import_contact.s(c) for c in contacts), notify_complete.si(42)).apply_async().get(timeout=T)


def _partial_chain() -> object:
    c1 = add.s(4) | mul.s(8)
    return c1(16).get(timeout=T)


def _combined_chains() -> object:
    c2 = add.s(4, 16) | mul.s(2) | (add.s(4) | mul.s(8))
    return c2().get(timeout=T)


def _group_upgrade() -> object:
    c3 = group(add.s(i, i) for i in range(10)) | xsum.s()
    return c3().get(timeout=T)


def _new_user_workflow() -> object:
    workflow = create_user.s() | group(import_contacts.s(), send_welcome_email.s())
    res = workflow.delay(username="artv", first="Art", last="Vandelay", email="art@vandelay.com")
    return res.get(timeout=T)


def _chain_into_immutable_group() -> object:
    res = (add.s(4, 4) | group(add.si(i, i) for i in range(10)))()
    return (res.get(timeout=T), res.parent.get(timeout=T))


def _link_children_collect() -> object:
    res = add.apply_async((2, 2), link=mul.s(16))
    value = res.get(timeout=T)
    child = res.children[0].get(timeout=T)
    collected = [v for _, v in res.collect()]
    return (value, child, collected)


def _chain_parents() -> object:
    res = chain(add.s(4, 4), mul.s(8), mul.s(10))()
    return (res.get(timeout=T), res.parent.get(timeout=T), res.parent.parent.get(timeout=T))


def _graph() -> object:
    res = chain(add.s(4, 4), mul.s(8), mul.s(10))()
    res.get(timeout=T)
    graph = res.parent.parent.graph
    return len(list(graph))


def _group_result_ops() -> object:
    job = group([add.s(2, 2), add.s(4, 4), add.s(8, 8), add.s(16, 16), add.s(32, 32)])
    result = job.apply_async()
    values = result.get(timeout=T)
    return (result.ready(), result.successful(), values, result.completed_count())


def _group_call() -> object:
    return group(add.s(2, 2), add.s(4, 4))().get(timeout=T)


def _chord_9900() -> object:
    return chord(add.s(i, i) for i in range(100))(tsum.s()).get(timeout=T)


def _chord_error() -> object:
    c = chord([add.s(4, 4), raising_task.s(), add.s(8, 8)])
    result = c(xsum.s())
    # The guide: "the chord callback result will transition to the failure state, and the error
    # is set to the ChordError". That is the body's own result; a plain get() follows parents
    # (Celery 5.7) and raises the member's ValueError itself.
    try:
        result.get(timeout=T, follow_parents=False)
    except ChordError as exc:
        return (type(exc).__name__, "raised ValueError('something something')" in str(exc))
    return "no error"


def _chord_errback() -> object:
    c = (group(add.s(i, i) for i in range(10)) | xsum.s().on_error(on_chord_error.s())).delay()
    return c.get(timeout=T)


def _map() -> object:
    return ~xsum.map([range(10), range(100)])


def _starmap() -> object:
    return ~add.starmap(zip(range(10), range(10), strict=True))


def _starmap_countdown() -> object:
    return add.starmap(zip(range(10), range(10), strict=True)).apply_async(countdown=1).get(timeout=T)


def _chunks() -> object:
    return add.chunks(zip(range(100), range(100), strict=True), 10)().get(timeout=T)


def _chunks_skew() -> object:
    g = add.chunks(zip(range(100), range(100), strict=True), 10).group()
    skewed = g.skew(start=1, stop=10)
    countdowns = [t.options.get("countdown") for t in skewed.tasks]
    return (countdowns, skewed().get(timeout=T)[9])


def _group_link_once() -> object:
    before = len(_records("log_result"))
    g = group(add.s(2, 2), add.s(4, 4))
    g.link(log_result.s())
    values = g().get(timeout=T)
    xsum.s([0]).delay().get(timeout=T)
    return (values, _wait_records("log_result", before + 1)[before:])


def _wait_records(kind: str, count: int) -> list[str]:
    import time

    deadline = time.time() + T
    while time.time() < deadline:
        lines = _records(kind)
        if len(lines) >= count:
            time.sleep(0.3)  # a second (wrong) call would show up now
            return _records(kind)
        time.sleep(0.05)
    return _records(kind)


def _errback_per_failing_member() -> object:
    before = len(_records("log_error"))
    g = group(fail.s(), fail.s())
    g.link_error(log_error.s())
    res = g()
    try:
        res.get(timeout=T)
    except RuntimeError:
        pass
    return len(_wait_records("log_error", before + 2)) - before


def _on_error() -> object:
    ok = add.s(2, 2).on_error(log_error.s()).delay().get(timeout=T)
    try:
        raising_task.s().on_error(log_error.s()).delay().get(timeout=T)
    except ValueError as exc:
        return (ok, str(exc))
    return (ok, "no error")


EXAMPLES = [
    Example("signature('tasks.add', args=(2, 2)).delay().get()", _signature_by_name, 4),
    Example("add(2, 2), add.s(2, 2)()  (inline)", _inline, (4, 4)),
    Example("partial = add.s(2); partial.delay(4), partial.apply_async((4,))", _partials, (6, 6)),
    Example("s.delay(debug=True), s.apply_async(kwargs={'debug': True})", _kwargs_merge, (4, 4)),
    Example("add.signature((2, 2), countdown=10).apply_async(countdown=1)", _options_merge, 4),
    Example("add.s(2).clone(args=(4,), kwargs={'debug': True})", _clone, ((4, 2), {"debug": True}, 6)),
    Example("add.apply_async((2, 2), link=reset_buffers.si())", _immutable_link, (4, "reset")),
    Example("add.apply_async((2, 2), link=add.s(8))", _partial_link, (4, 12)),
    Example("~add.s(2, 2)", _invert, 4),
    Example("chain(add.s(2, 2), add.s(4), add.s(8))(), and with pipes", _simple_chain, (16, 16)),
    Example("(add.si(2, 2) | add.si(4, 4) | add.si(8, 8))(); .parent; .parent.parent", _immutable_chain, (16, 8, 4)),
    Example("group(add.s(i, i) for i in range(10))()", _simple_group, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]),
    Example("chord((add.s(i, i) for i in range(10)), xsum.s())()", _simple_chord, 90),
    Example(
        "chord((import_contact.s(c) for c in contacts), notify_complete.si(42))", _immutable_body, "import 42 complete"
    ),
    Example("c1 = (add.s(4) | mul.s(8)); c1(16)", _partial_chain, 160),
    Example("(add.s(4, 16) | mul.s(2) | (add.s(4) | mul.s(8)))()", _combined_chains, 352),
    Example("(group(add.s(i, i) for i in range(10)) | xsum.s())()", _group_upgrade, 90),
    Example(
        "(create_user.s() | group(import_contacts.s(), send_welcome_email.s())).delay(...)",
        _new_user_workflow,
        ["imported contacts of artv", "welcome mail to art@vandelay.com"],
    ),
    Example(
        "(add.s(4, 4) | group(add.si(i, i) for i in range(10)))(); .parent",
        _chain_into_immutable_group,
        ([0, 2, 4, 6, 8, 10, 12, 14, 16, 18], 8),
    ),
    Example("add.apply_async((2, 2), link=mul.s(16)); .children; collect()", _link_children_collect, (4, 64, [4, 64])),
    Example("chain(add.s(4, 4), mul.s(8), mul.s(10))(); .parent; .parent.parent", _chain_parents, (640, 64, 8)),
    Example("res.parent.parent.graph (nodes)", _graph, 3),
    Example(
        "group([...]).apply_async(): ready, successful, get, completed_count",
        _group_result_ops,
        (True, True, [4, 8, 16, 32, 64], 5),
    ),
    Example("group(add.s(2, 2), add.s(4, 4))()", _group_call, [4, 8]),
    Example("chord(add.s(i, i) for i in range(100))(tsum.s())", _chord_9900, 9900),
    Example("chord([add.s(4, 4), raising_task.s(), add.s(8, 8)]) -> ChordError", _chord_error, ("ChordError", True)),
    Example("(group(...) | xsum.s().on_error(on_chord_error.s())).delay()", _chord_errback, 90),
    Example("~xsum.map([range(10), range(100)])", _map, [45, 4950]),
    Example("~add.starmap(zip(range(10), range(10)))", _starmap, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]),
    Example("add.starmap(...).apply_async(countdown=1)", _starmap_countdown, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]),
    Example(
        "add.chunks(zip(range(100), range(100)), 10)()",
        _chunks,
        [[2 * (10 * c + i) for i in range(10)] for c in range(10)],
    ),
    Example(
        "add.chunks(...).group().skew(start=1, stop=10)()",
        _chunks_skew,
        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], [180, 182, 184, 186, 188, 190, 192, 194, 196, 198]),
        slow=True,
    ),
    Example("g.link(log_result.s()) runs once, after the group, with [4, 8]", _group_link_once, ([4, 8], ["[4, 8]"])),
    Example(
        "group(fail.s(), fail.s()).link_error(log_error.s()) runs once per failing member",
        _errback_per_failing_member,
        2,
    ),
    Example("add.s(2, 2).on_error(log_error.s()); raising_task errback", _on_error, (4, "something something")),
]
