"""Programs for CELERY-SEMANTICS §2.7: callbacks (link) and errbacks (link_error): calling
conventions, and who is called how often. Calls are recorded by the `record` / `err_*` tasks."""

from __future__ import annotations

from tests.conformance.corpus import Differs, program

# -- calling conventions ------------------------------------------------------------------------


@program("2.7")
def link_task_gets_value(c):
    res = c.t.add.apply_async((2, 2), link=c.rec("cb"))
    c.label(res, "res")
    value = c.get(res)
    return {"value": value, "cb": c.records("cb"), "children": [c.cls(ch) for ch in res.children or []]}


@program("2.7")
def link_immutable_callback(c):
    res = c.t.add.apply_async((2, 2), link=c.rec_si("cb", "own"))
    return {"value": c.get(res), "cb": c.records("cb")}


@program("2.7")
def link_callback_with_own_args(c):
    res = c.t.add.apply_async((2, 2), link=c.rec("cb", "own"))
    return {"value": c.get(res), "cb": c.records("cb")}


@program("2.7")
def link_several_callbacks_bundled(c):
    res = c.t.add.apply_async((2, 2), link=[c.t.mul.s(4), c.t.add.s(1)])
    c.get(res)
    children = res.children or []
    out = {"children": [c.cls(ch) for ch in children]}
    out["child_values"] = [c.get(ch) for ch in children]
    return out


@program("2.7")
def link_via_signature_link(c):
    sig = c.t.add.s(1, 1)
    sig.link(c.rec("cb"))
    return {"value": c.get(sig.delay()), "cb": c.records("cb")}


@program("2.7")
def link_children_known_when_ready(c):
    res = c.t.add.apply_async((1, 1), link=c.t.mul.s(2))
    c.get(res)
    return {"children_len": len(res.children or [])}


@program("2.7")
def link_not_called_on_failure(c):
    res = c.t.fail.apply_async(link=c.rec("cb"))
    return {"get": c.get(res), "cb": c.count("cb", n=1, timeout=1.0)}


@program("2.7")
def link_error_new_style(c):
    res = c.t.fail.apply_async(link_error=c.err_new("eb"))
    c.label(res, "res")
    return {"get": c.get(res), "eb": c.records("eb")}


@program("2.7")
def link_error_old_style(c):
    res = c.t.fail.apply_async(link_error=c.err_old("eb"))
    c.label(res, "res")
    return {"get": c.get(res), "eb": c.records("eb")}


@program("2.7")
def link_error_new_style_own_args(c):
    res = c.t.fail.apply_async(link_error=c.t.err_new_args.s("tag", key=c.key("eb")))
    c.label(res, "res")
    return {"get": c.get(res), "eb": c.records("eb")}


@program("2.7")
def link_error_immutable(c):
    res = c.t.fail.apply_async(link_error=c.t.err_any.si("own", key=c.key("eb")))
    return {"get": c.get(res), "eb": c.records("eb")}


@program("2.7")
def link_error_varargs_is_new_style(c):
    res = c.t.fail.apply_async(link_error=c.t.err_any.s(key=c.key("eb")))
    return {"get": c.get(res), "eb": c.records("eb")}


@program("2.7")
def link_error_bound_task_is_old_style(c):
    res = c.t.fail.apply_async(link_error=c.t.err_bound.s(key=c.key("eb")))
    c.label(res, "res")
    return {"get": c.get(res), "eb": c.records("eb")}


@program("2.7")
def link_error_not_called_on_success(c):
    res = c.t.add.apply_async((1, 1), link_error=c.err_new("eb"))
    return {"value": c.get(res), "eb": c.count("eb", n=1, timeout=1.0)}


@program("2.7")
def link_error_that_raises_is_swallowed(c):
    res = c.t.fail_key.apply_async(link_error=c.t.fail.s())
    c.sleep(0.3)
    return {"get": c.get(res), "state": c.state(res)}


@program("2.7")
def link_error_via_on_error(c):
    sig = c.t.fail.s().on_error(c.err_new("eb"))
    res = sig.delay()
    c.label(res, "res")
    return {"get": c.get(res), "eb": c.records("eb")}


# -- who gets called, how often -------------------------------------------------------------


@program("2.7")
def link_on_task_inside_chain(c):
    first = c.t.add.s(1, 1)
    first.link(c.rec("cb"))
    res = (first | c.t.add.s(10)).delay()
    return {"value": c.get(res), "cb": c.records("cb")}


@program("2.7")
def link_on_chain_gets_last_value(c):
    ch = c.t.add.s(1, 1) | c.t.add.s(1) | c.t.mul.s(10)
    ch.link(c.rec("cb"))
    return {"value": c.get(ch.delay()), "cb": c.records("cb")}


@program("2.7")
def link_chain_apply_async_link(c):
    ch = c.t.add.s(1, 1) | c.t.add.s(1)
    res = ch.apply_async(link=c.rec("cb"))
    return {"value": c.get(res), "cb": c.records("cb")}


@program("2.7")
def link_error_on_chain_fires_once(c):
    ch = c.t.add.s(1, 1) | c.t.fail.s() | c.t.add.s(1)
    ch.link_error(c.err_new("eb"))
    res = ch.delay()
    c.label_tree(res)
    return {"get": c.get(res), "eb": c.records("eb")}


@program("2.7")
def link_error_chain_apply_async(c):
    ch = c.t.add.s(1, 1) | c.t.fail.s() | c.t.add.s(1)
    res = ch.apply_async(link_error=c.err_old("eb"))
    c.label_tree(res)
    return {"get": c.get(res), "eb": c.records("eb")}


@program(
    "2.7",
    differs=Differs(
        design=4,
        why="group.link runs once, after the whole group, with the list (Celery: first member, no args)",
        celery={"cb": [{"args": [], "kwargs": {}}]},
        motet={"cb": [{"args": [[2, 4]], "kwargs": {}}]},
    ),
)
def group_link_runs_once(c):
    g = c.group(c.t.add.s(1, 1), c.t.sleep_then.s(4, 0.3))
    g.link(c.rec("cb"))
    res = g.delay()
    value = c.get(res)
    return {"value": value, "cb": c.records("cb")}


@program("2.7")
def group_link_first_member_fails(c):
    g = c.group(c.t.fail.s(), c.t.add.s(1, 1))
    g.link(c.rec("cb"))
    res = g.delay()
    return {"get": c.get(res), "cb": c.count("cb", n=1, timeout=1.0)}


@program(
    "2.7",
    differs=Differs(
        design=4,
        why="group.link(sig) runs once, after the whole group, with the list of results: on an empty"
        " group too (Celery links the first member, and an empty group has none: IndexError)",
        celery={"link": {"raised": "IndexError", "msg": "list index out of range"}},
        motet={"link": None},
    ),
)
def group_link_empty_group(c):
    return {"link": c.attempt(lambda: c.group([]).link(c.rec("cb")) and None)}


@program("2.7")
def group_link_error_once_per_failing_member(c):
    g = c.group(c.t.fail.s(), c.t.fail.s(), c.t.fail.s(), c.t.add.s(1, 1))
    g.link_error(c.err_new("eb"))
    res = g.delay()
    c.get(res)
    return {"eb_calls": c.count("eb", n=3)}


@program("2.7")
def group_member_errback(c):
    g = c.group(c.t.fail.s().on_error(c.err_new("eb")), c.t.add.s(1, 1))
    res = g.delay()
    c.label_tree(res, "g")
    return {"get": c.get(res), "eb": c.records("eb")}


@program("2.7")
def chord_link_gets_body_value(c):
    ch = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.xsum.s())
    ch.link(c.rec("cb"))
    return {"value": c.get(ch.delay()), "cb": c.records("cb")}


@program("2.7")
def chord_link_not_called_on_failure(c):
    ch = c.chord([c.t.fail.s(), c.t.add.s(1, 1)], c.t.xsum.s())
    ch.link(c.rec("cb"))
    res = ch.delay()
    return {"ready": c.wait_ready(res), "cb": c.count("cb", n=1, timeout=1.0)}


@program("2.7")
def chord_link_error_header_failure(c):
    ch = c.chord([c.t.fail.s(), c.t.add.s(1, 1)], c.t.xsum.s())
    ch.link_error(c.err_new("eb"))
    res = ch.delay()
    c.label_tree(res, "body")
    return {"ready": c.wait_ready(res), "eb": c.records("eb")}


@program("2.7")
def chord_link_error_two_header_failures_once(c):
    ch = c.chord([c.t.fail.s(), c.t.fail.s(), c.t.add.s(1, 1)], c.t.xsum.s())
    ch.link_error(c.err_new("eb"))
    res = ch.delay()
    c.get(res)
    return {"eb_calls": c.count("eb", n=2)}


@program("2.7")
def chord_link_error_body_failure(c):
    ch = c.chord([c.t.add.s(1, 1)], c.t.fail.s())
    ch.link_error(c.err_new("eb"))
    res = ch.delay()
    c.label_tree(res, "body")
    return {"get": c.get(res), "eb": c.records("eb")}


@program("2.7")
def chord_link_error_group_body_failures(c):
    # Celery and Motet: a chord whose body is a group calls its errback once per failing body
    # member (the errback is the body's, and a group's errback runs per failing member).
    ch = c.chord([c.t.add.s(1, 1)], c.group(c.t.fail.s(), c.t.fail.s(), c.t.identity.s()))
    ch.link_error(c.err_new("eb"))
    res = ch.delay()
    c.get(res)
    return {"eb_calls": c.count("eb", n=2)}


@program(
    "2.7",
    differs=Differs(
        design=1,
        why="a failed step fails every downstream result: the outer chord's body ends FAILURE"
        " (Celery: PENDING forever)",
        celery={"outer_body_state": "PENDING"},
        motet={"outer_body_state": "FAILURE"},
    ),
)
def chord_in_chord_header_errback_once(c):
    inner = c.chord([c.t.fail.s()], c.t.xsum.s())
    ch = c.chord([inner, c.t.add.s(1, 1)], c.t.xsum.s())
    ch.link_error(c.err_new("eb"))
    res = ch.delay()
    c.get(res)
    calls = c.count("eb", n=1, grace=1.0)
    return {"eb_calls": calls, "outer_body_state": c.state(res)}


@program("2.7")
def chord_body_on_error_guide_example(c):
    res = (c.group(c.t.add.s(1, 1), c.t.fail.s()) | c.t.xsum.s().on_error(c.err_new("eb"))).delay()
    c.label_tree(res, "body")
    return {"ready": c.wait_ready(res), "eb": c.records("eb")}


@program("2.7")
def chord_apply_async_link_error_goes_to_body(c):
    ch = c.chord([c.t.fail.s(), c.t.add.s(1, 1)], c.t.xsum.s())
    res = ch.apply_async(link_error=c.err_new("eb"))
    c.label_tree(res, "body")
    return {"ready": c.wait_ready(res), "eb": c.records("eb")}


@program("2.7")
def chord_apply_async_link_goes_to_body(c):
    ch = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.xsum.s())
    res = ch.apply_async(link=c.rec("cb"))
    return {"value": c.get(res), "cb": c.records("cb")}


@program("2.7")
def chain_with_upgraded_chord_on_error_once(c):
    ch = c.chain(c.t.add.s(1, 1), c.group(c.t.fail.s(), c.t.add.s(1)), c.t.xsum.s()).on_error(c.err_new("eb"))
    res = ch.delay()
    c.get(res)
    return {"eb_calls": c.count("eb", n=1)}


@program("2.7")
def chain_ending_in_group_errback_per_failing_member(c):
    ch = (c.t.add.s(1, 1) | c.group(c.t.fail.s(), c.t.fail.s(), c.t.add.s(1))).on_error(c.err_new("eb"))
    res = ch.delay()
    c.get(res)
    return {"eb_calls": c.count("eb", n=2)}


@program("2.7")
def chord_header_chain_failure_errback_3317(c):
    ch = c.chord([c.t.add.s(1, 1) | c.t.fail.s(), c.t.add.s(2, 2)], c.t.xsum.s())
    ch.link_error(c.err_new("eb"))
    res = ch.delay()
    c.get(res)
    return {"eb_calls": c.count("eb", n=1)}


@program("2.7")
def callback_chain_of_callbacks(c):
    cb = c.rec("cb1")
    cb.link(c.rec("cb2"))
    res = c.t.add.apply_async((1, 1), link=cb)
    return {"value": c.get(res), "cb1": c.records("cb1"), "cb2": c.records("cb2")}


@program("2.7")
def group_link_error_errback_stays_mutable_6766(c):
    g = c.group(c.t.fail.s(), c.t.add.s(1, 1))
    g.link_error(c.err_new("eb"))
    res = g.delay()
    c.label_tree(res, "g")
    c.wait_ready(res)
    return {"eb": c.records("eb")}


@program("1.11")
def chord_header_errback_setting(c):
    conf = getattr(c.app, "conf", None)
    if conf is None:
        return {"eb_calls": {"raised": "AttributeError", "msg": "the app has no conf"}}
    try:
        conf.task_allow_error_cb_on_chord_header = True
        ch = c.chord([c.t.fail.s(), c.t.fail.s(), c.t.add.s(1, 1)], c.t.xsum.s())
        ch.link_error(c.err_new("eb"))
        res = ch.delay()
        c.wait_ready(res)
        return {"eb_calls": c.count("eb", n=3)}
    finally:
        conf.task_allow_error_cb_on_chord_header = False
