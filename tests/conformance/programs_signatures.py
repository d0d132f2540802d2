"""Programs for CELERY-SEMANTICS §1.1 (task entry points), §1.2 (Signature) and §2.1 (merging
arguments and options)."""

from __future__ import annotations

import json
import uuid

from tests.conformance.corpus import program

# -- §1.1 task-level entry points ----------------------------------------------------------------


@program("1.1")
def task_delay(c):
    res = c.t.add.delay(2, 3)
    return {"cls": c.cls(res), "value": c.get(res), "state": c.state(res)}


@program("1.1")
def task_apply_async_args_kwargs(c):
    res = c.t.addk.apply_async((1,), {"y": 2, "z": 3})
    return {"cls": c.cls(res), "value": c.get(res)}


@program("1.1")
def task_s_then_delay(c):
    sig = c.t.add.s(2)
    return {"args": c.norm(sig.args), "value": c.get(sig.delay(5))}


@program("1.1")
def task_si_ignores_partial_args(c):
    sig = c.t.add.si(1, 2)
    return {
        "immutable": sig.immutable,
        "apply_async": c.attempt(lambda: c.get(sig.apply_async((5,), {"y": 7}))),
        "delay": c.attempt(lambda: c.get(sig.delay(100))),
    }


@program("1.1")
def task_signature_with_options(c):
    sig = c.t.add.signature((2, 2), countdown=0.1)
    return {"options": c.norm(sig.options), "args": c.norm(sig.args), "value": c.get(sig.delay())}


@program("1.1")
def task_signature_immutable_option(c):
    sig = c.t.echo.signature((1,), immutable=True)
    return {"immutable": sig.immutable, "value": c.get(sig.delay(0))}


@program("1.1")
def task_apply_eager(c):
    res = c.t.add.apply((2, 3))
    return {
        "cls": c.cls(res),
        "value": c.get(res),
        "state": c.state(res),
        "ready": res.ready(),
        "successful": res.successful(),
    }


@program("1.1")
def task_apply_eager_failure(c):
    res = c.t.fail.apply()
    return {
        "cls": c.cls(res),
        "state": c.state(res),
        "get": c.get(res),
        "get_no_propagate": c.get(res, propagate=False),
        "failed": res.failed(),
    }


@program("1.1")
def task_map_and_starmap(c):
    mapped = c.t.xsum.map([[1, 2], [3, 4]])
    starred = c.t.add.starmap([(1, 2), (3, 4)])
    return {
        "map_type": mapped.subtask_type,
        "starmap_type": starred.subtask_type,
        "map": c.get(mapped.delay()),
        "starmap": c.get(starred.delay()),
    }


@program("1.1")
def task_chunks_entry_point(c):
    ch = c.t.add.chunks(zip(range(5), range(5), strict=True), 2)
    res = ch()
    return {"subtask_type": ch.subtask_type, "cls": c.cls(res), "len": c.attempt(len, res), "value": c.get(res)}


@program("1.1")
def task_asyncresult_unknown_id(c):
    ident = str(uuid.uuid4())
    res = c.t.add.AsyncResult(ident)
    return {"cls": c.cls(res), "state": c.state(res), "ready": c.attempt(res.ready), "id_is_given": res.id == ident}


@program("1.1")
def task_replace_with_chain(c):
    res = c.t.replace_with_chain.delay(3)
    return {"value": c.get(res), "state": c.state(res)}


@program("1.1")
def task_replace_with_group(c):
    res = c.t.replace_with_group.delay(3)
    return {"value": c.get(res), "state": c.state(res)}


@program("1.1")
def task_argument_check_at_send(c):
    """Celery checks the arguments against the task's signature when it is sent (typing=True)."""
    return {
        "too_many": c.attempt(lambda: c.get(c.t.add.delay(1, 2, 3), timeout=3)),
        "too_few": c.attempt(lambda: c.get(c.t.add.s(1).delay(), timeout=3)),
        "bad_kwarg": c.attempt(lambda: c.get(c.t.add.s(1, 2, nope=1).delay(), timeout=3)),
    }


# -- §1.2 Signature --------------------------------------------------------------------------


@program("1.2")
def sig_by_name(c):
    sig = c.signature("conf.add", args=(2, 3))
    return {"task": sig.task, "name": sig.name, "value": c.get(sig.delay())}


@program("1.2")
def sig_by_name_with_options(c):
    sig = c.signature("conf.add", args=(1, 1), countdown=0.1, queue="q2")
    return {"options": c.norm(sig.options), "value": c.get(sig.delay())}


@program("1.2")
def app_signature(c):
    sig = c.app.signature("conf.mul", args=(3, 4))
    return {"task": sig.task, "value": c.get(sig.delay())}


@program("1.2", timeout=3)
def sig_unregistered_name(c):
    sig = c.signature("conf.does_not_exist", args=(1,))
    res = c.attempt(sig.delay)
    out = {"task": sig.task, "args": c.norm(sig.args), "sent": res if isinstance(res, (dict, str)) else "result"}
    if not isinstance(res, (dict, str)):
        out["get"] = c.get(sig.delay(), timeout=2)
    return out


@program("1.2")
def sig_fields(c):
    sig = c.t.addk.s(2, y=3).set(queue="q2")
    return {
        "task": sig.task,
        "args": c.norm(sig.args),
        "kwargs": c.norm(sig.kwargs),
        "options": c.norm(sig.options),
        "immutable": sig.immutable,
        "subtask_type": sig.subtask_type,
    }


@program("1.2")
def sig_id_before_and_after_freeze(c):
    sig = c.t.add.s(1, 1)
    before = sig.id
    res = sig.freeze()
    return {"before": before, "after_is_set": sig.id is not None, "freeze_cls": c.cls(res), "same": res.id == sig.id}


@program("1.2")
def sig_call_runs_inline(c):
    return {"value": c.attempt(lambda: c.t.add.s(2)(5)), "cls": c.attempt(lambda: type(c.t.add.s(2, 2)()).__name__)}


@program("1.2")
def sig_call_immutable_inline(c):
    return {"value": c.attempt(lambda: c.t.echo.si(1)(2))}


@program("1.2")
def sig_clone_merges_and_keeps_original(c):
    orig = c.t.add.s("b")
    clone = orig.clone(args=("a",))
    return {
        "clone_args": c.norm(clone.args),
        "orig_args": c.norm(orig.args),
        "value": c.get(clone.delay()),
    }


@program("1.2")
def sig_clone_kwargs_and_options(c):
    orig = c.t.echo.s(1, a=1).set(queue="q2")
    clone = orig.clone(args=(0,), kwargs={"b": 2}, countdown=0.1)
    return {
        "clone": [c.norm(clone.args), c.norm(clone.kwargs), c.norm(clone.options)],
        "orig": [c.norm(orig.args), c.norm(orig.kwargs), c.norm(orig.options)],
        "value": c.get(clone.delay()),
    }


@program("1.2")
def sig_partial_alias(c):
    return {"value": c.attempt(lambda: c.norm(c.t.add.s(1).partial(args=(2,)).args))}


@program("1.2")
def sig_clone_copies_link_list(c):
    orig = c.t.add.s(1, 1)
    orig.link(c.t.identity.s())
    clone = orig.clone()
    clone.link(c.t.mul.s(2))
    return {"orig_links": len(orig.options.get("link", [])), "clone_links": len(clone.options.get("link", []))}


@program("1.2")
def sig_replace_swaps_parts(c):
    orig = c.t.addk.s(1, y=2)
    swapped = orig.replace(args=(5,))
    swapped2 = orig.replace(kwargs={"z": 1})
    return {
        "args": c.norm(swapped.args),
        "kwargs": c.norm(swapped.kwargs),
        "args2": c.norm(swapped2.args),
        "kwargs2": c.norm(swapped2.kwargs),
        "orig": [c.norm(orig.args), c.norm(orig.kwargs)],
        "value": c.get(swapped.delay()),
    }


@program("1.2")
def sig_set_returns_self(c):
    sig = c.t.add.s(1, 1)
    out = sig.set(countdown=0.1, queue="q2")
    return {"is_self": out is sig, "options": c.norm(sig.options), "value": c.get(sig.delay())}


@program("1.2")
def sig_set_immutable(c):
    sig = c.t.echo.s(1)
    sig.set_immutable(True)
    return {"immutable": sig.immutable, "value": c.get(sig.delay(0))}


@program("1.2")
def sig_link_return_values(c):
    sig = c.t.add.s(1, 1)
    cb = c.t.identity.s()
    eb = c.err_new("eb")
    return {
        "link_returns_cb": sig.link(cb) is cb,
        "link_error_returns_eb": sig.link_error(eb) is eb,
        "on_error_returns_self": sig.on_error(c.err_old("eb2")) is sig,
        "links": len(sig.options.get("link", [])),
        "errbacks": len(sig.options.get("link_error", [])),
    }


@program("1.2")
def sig_link_same_callback_twice(c):
    sig = c.t.add.s(1, 1)
    sig.link(c.t.identity.s())
    sig.link(c.t.identity.s())
    return {"links": len(sig.options.get("link", []))}


@program("1.2")
def sig_freeze_then_send_twice_same_id(c):
    sig = c.t.add.s(1, 1)
    frozen = sig.freeze()
    r1 = sig.apply_async()
    c.get(r1)
    r2 = sig.apply_async()
    return {"r1_is_frozen": r1.id == frozen.id, "r2_is_frozen": r2.id == frozen.id, "value": c.get(r2)}


@program("1.2")
def sig_freeze_with_id(c):
    ident = str(uuid.uuid4())
    c.label(ident, "given")
    sig = c.t.add.s(2, 2)
    res = sig.freeze(ident)
    return {"res_id": res.id, "sig_id": sig.id, "value": c.get(sig.apply_async())}


@program("1.2")
def sig_invert(c):
    return {"value": c.attempt(lambda: ~c.t.add.s(2, 2))}


@program("1.2")
def sig_equality(c):
    return {
        "equal": c.t.add.s(1, 2) == c.t.add.s(1, 2),
        "args_differ": c.t.add.s(1, 2) == c.t.add.s(1, 3),
        "options_differ": c.t.add.s(1) == c.t.add.s(1).set(countdown=1),
        "immutable_differs": c.t.add.s(1) == c.t.add.si(1),
    }


@program("1.2")
def sig_is_a_dict_and_json_roundtrip(c):
    sig = c.t.add.s(1, 2).set(countdown=0.1)
    out = {"isinstance_dict": isinstance(sig, dict)}
    data = c.attempt(lambda: json.loads(json.dumps(sig)))
    out["json_keys"] = sorted(data) if isinstance(data, dict) and "raised" not in data else data
    try:
        again = c.signature(json.loads(json.dumps(sig)))
        out["rebuilt_value"] = c.get(again.delay())
    except Exception as e:  # noqa: BLE001
        out["rebuilt_value"] = c.exc(e)
    return out


@program("1.2")
def sig_from_dict_chain(c):
    ch = c.t.add.s(1, 1) | c.t.add.s(1)
    try:
        rebuilt = c.signature(json.loads(json.dumps(ch)))
        return {"subtask_type": rebuilt.subtask_type, "value": c.get(rebuilt.delay())}
    except Exception as e:  # noqa: BLE001
        return {"raised": c.exc(e)}


@program("1.2")
def sig_maybe_signature(c):
    sig = c.t.add.s(1, 1)
    same = c.maybe_signature(sig)
    return {"none": c.maybe_signature(None), "same_value": c.get(same.delay())}


@program("1.2")
def sig_flatten_links(c):
    a = c.t.add.s(1, 1)
    b = c.t.mul.s(2)
    a.link(b)
    b.link(c.t.identity.s())
    return {"tasks": c.attempt(lambda: [s.task for s in a.flatten_links()])}


@program("1.2")
def sig_stamp(c):
    sig = c.t.add.s(1, 1)
    stamped = c.attempt(lambda: sig.stamp(flavour="vanilla") and None)
    return {"stamp": stamped, "value": c.get(sig.delay())}


@program("1.2")
def sig_or_non_signature(c):
    return {
        "int": c.attempt(lambda: c.t.add.s(1) | 10),
        "none": c.attempt(lambda: c.t.add.s(1) | None),
    }


# -- §2.1 merging arguments and options ----------------------------------------------------------


@program("2.1")
def merge_partial_args_come_first(c):
    return {"value": c.get(c.t.add.s("b").delay("a"))}


@program("2.1")
def merge_partial_args_through_chain(c):
    return {"value": c.get((c.t.add.s("b") | c.t.add.s("c")).delay("a"))}


@program("2.1")
def merge_kwargs_caller_wins(c):
    return {"value": c.get(c.t.addk.s(2, y=3).apply_async(kwargs={"y": 10}))}


@program("2.1")
def merge_echo_args_and_kwargs(c):
    return {"value": c.get(c.t.echo.s(1, k=1, j=1).delay(0, k=2))}


@program("2.1")
def merge_options_call_time_wins(c):
    res = c.t.req_info.s().set(queue="q2").apply_async(queue="celery")
    return {"queue": c.attempt(lambda: c.get(res)["queue"])}


@program("2.1")
def merge_options_none_is_ignored(c):
    res = c.t.req_info.s().set(queue="q2").apply_async(queue=None)
    return {"queue": c.attempt(lambda: c.get(res)["queue"])}


@program("2.1")
def merge_immutable_keeps_args_but_merges_options(c):
    res = c.t.req_info.si(1).apply_async((5,), {"x": 7}, queue="q2")
    got = c.get(res)
    return {
        "args": got.get("args") if isinstance(got, dict) else got,
        "queue": got.get("queue") if isinstance(got, dict) else got,
    }


@program("2.1")
def merge_chain_set_immutable(c):
    ch = c.chain(c.t.add.s(1), c.t.identity.s())
    ch.set(immutable=True)
    return {"sent": c.attempt(lambda: c.get(ch.apply_async((2,)), timeout=3))}


@program("2.1")
def merge_group_set_immutable(c):
    g = c.group(c.t.echo.s(1), c.t.echo.s(2))
    g.set_immutable(True)
    return {"flags": [t.immutable for t in g.tasks], "value": c.get(g.apply_async((0,)))}


@program("2.1")
def merge_chord_set_immutable_header_only(c):
    ch = c.chord([c.t.echo.s(1)], c.t.echo.s())
    ch.set_immutable(True)
    return {
        "header_flags": [t.immutable for t in ch.tasks],
        "body_flag": ch.body.immutable,
        "value": c.get(ch.apply_async((0,))),
    }


@program(
    "1.1",
    known=(
        "Celery's Redis backend scores a member added by add_to_chord with a group index it never sets, so "
        "its value comes first; Motet appends it after the header's members"
    ),
)
def task_add_to_chord(c):
    ch = c.chord([c.t.grow_chord.s(1), c.t.add.s(2, 2)], c.t.identity.s())
    return {"value": c.get(ch.delay(), timeout=5)}


@program("1.1", timeout=3)
def task_replace_with_empty_chain(c):
    res = c.t.replace_with_empty_chain.delay()
    got = c.get(res)
    return {"get_class": got.get("raised") if isinstance(got, dict) else got, "state": c.state(res)}


@program("1.7")
def task_get_inside_a_task(c):
    res = c.t.get_inside.delay()
    got = c.get(res)
    return {"get_class": got.get("raised") if isinstance(got, dict) else got}


@program(
    "1.2",
    known=(
        "Motet's freeze writes parent_id / root_id into each member's options (the scheduler gets them with "
        "the canvas); Celery's chain.freeze() leaves them unset until the chain is sent"
    ),
)
def sig_id_views_after_chain_freeze(c):
    ch = c.t.add.s(1, 1) | c.t.add.s(1) | c.t.add.s(1)
    res = ch.freeze()
    c.label_tree(res)
    return {
        "ids": [c.norm(t.id) for t in ch.tasks],
        "parent_ids": [c.attempt(lambda t=t: t.parent_id) for t in ch.tasks],
        "root_ids": [c.attempt(lambda t=t: t.root_id) for t in ch.tasks],
    }
