"""Programs for CELERY-SEMANTICS §1.7 (AsyncResult), §1.8 (GroupResult), §1.9 (exceptions and
states) and §2.9 (the result graph)."""

from __future__ import annotations

import uuid

from tests.conformance.corpus import Differs, program

# -- §1.7 AsyncResult --------------------------------------------------------------------------


@program("1.7")
def result_basic_fields(c):
    res = c.t.add.delay(1, 1)
    c.label(res, "res")
    value = c.get(res)
    return {
        "value": value,
        "id_is_str": str(res) == res.id,
        "task_id": res.task_id,
        "eq_string": res == res.id,
        "state": res.state,
        "status": res.status,
        "ready": res.ready(),
        "successful": res.successful(),
        "failed": res.failed(),
        "result": c.norm(res.result),
    }


@program("1.7")
def result_unknown_id_is_pending(c):
    res = c.app.AsyncResult(str(uuid.uuid4()))
    return {"state": c.state(res), "ready": c.attempt(res.ready), "result": c.attempt(lambda: res.result)}


@program("1.7")
def result_failure_fields(c):
    res = c.t.fail.delay()
    c.wait_ready(res)
    tb = c.attempt(lambda: res.traceback)
    return {
        "state": res.state,
        "failed": res.failed(),
        "successful": res.successful(),
        "result": c.norm(res.result),
        "traceback_mentions_exc": isinstance(tb, str) and "ValueError" in tb,
    }


@program("1.7")
def result_get_propagate_false(c):
    res = c.t.fail.delay()
    return {"get": c.get(res), "no_propagate": c.get(res, propagate=False)}


@program("1.7")
def result_get_timeout(c):
    res = c.t.sleep_then.delay(1, 2.5)  # Celery checks its timeout between 1 s waits
    timed_out = c.get(res, timeout=0.3)
    return {"timed_out": timed_out, "then": c.get(res)}


@program("1.7")
def result_hash_and_equality(c):
    res = c.t.add.delay(1, 1)
    c.get(res)
    again = c.app.AsyncResult(res.id)
    return {"equal": res == again, "set_len": len({res, again}), "value_again": c.get(again)}


@program("1.7")
def result_from_id_reads_value(c):
    res = c.t.add.delay(20, 22)
    c.get(res)
    fresh = c.app.AsyncResult(res.id)
    return {"value": c.get(fresh), "state": c.state(fresh)}


@program("1.7")
def result_forget(c):
    res = c.t.add.delay(1, 1)
    c.get(res)
    c.attempt(res.forget)
    return {"state_after": c.state(c.app.AsyncResult(res.id))}


@program("1.7")
def result_ignore_result(c):
    res = c.t.add.apply_async((1, 1), ignore_result=True)
    got = c.get(res, timeout=3)
    c.sleep(0.3)
    return {"get": got, "state": c.state(res)}


@program("1.7")
def result_retries_count(c):
    res = c.t.retry_n.delay(2)
    return {"value": c.get(res), "state": c.state(res)}


@program("1.7")
def result_retry_exhausted(c):
    res = c.t.retry_forever.delay()
    return {"get": c.get(res), "state": c.state(res)}


@program("1.7")
def result_exception_class_kept(c):
    res = c.t.fail_key.delay()
    return {"get": c.get(res)}


@program("1.7")
def result_name(c):
    res = c.t.add.delay(1, 1)
    c.get(res)
    return {"name": c.attempt(lambda: res.name)}


# -- §1.8 GroupResult ----------------------------------------------------------------------------


@program("1.8")
def groupresult_operations(c):
    res = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2)).delay()
    return {
        "join": c.attempt(lambda: res.join(timeout=c.T)),
        "get": c.get(res),
        "ready": res.ready(),
        "successful": res.successful(),
        "completed_count": res.completed_count(),
        "len": len(res),
    }


@program("1.8")
def groupresult_join_native(c):
    res = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2)).delay()
    return {"join_native": c.attempt(lambda: res.join_native(timeout=c.T))}


@program("1.8")
def groupresult_save_and_restore(c):
    res = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2)).delay()
    c.get(res)
    c.attempt(res.save)
    restored = c.attempt(lambda: c.app.GroupResult.restore(res.id))
    if isinstance(restored, dict) and "raised" in restored:
        return {"restored": restored}
    restored = c.app.GroupResult.restore(res.id)
    return {"cls": c.cls(restored), "len": len(restored), "value": c.get(restored)}


@program("1.8")
def groupresult_restore_unknown(c):
    return {"restored": c.attempt(lambda: c.app.GroupResult.restore(str(uuid.uuid4())))}


@program("1.8")
def groupresult_revoke_members(c):
    res = c.group(c.t.add.s(1, 1).set(countdown=1.5), c.t.add.s(2, 2).set(countdown=1.5)).delay()
    res.revoke()
    return {"get": c.get(res, timeout=5), "states": [c.state(r) for r in res.results]}


@program("1.8")
def result_as_tuple(c):
    res = (c.t.add.s(1, 1) | c.t.add.s(1)).delay()
    c.get(res)
    return {"as_tuple": c.attempt(lambda: res.as_tuple())}


# -- §2.9 the result graph -----------------------------------------------------------------------


@program("2.9")
def graph_collect_with_callback(c):
    res = c.t.add.apply_async((2, 2), link=c.t.mul.s(16))
    c.label(res, "res")
    c.get(res)
    c.sleep(0.3)
    collected = c.attempt(lambda: [(str(r.id), v) for r, v in res.collect(timeout=c.T)])
    return {
        "collect_len": c.attempt(len, collected),
        "values": [p[1] for p in collected] if isinstance(collected, list) else collected,
    }


@program("2.9")
def graph_nodes(c):
    res = c.t.add.apply_async((2, 2), link=c.t.mul.s(16))
    c.get(res)
    c.sleep(0.3)
    for child in res.children or []:
        c.wait_ready(child)
    return {"nodes": c.attempt(lambda: len(res.graph))}


@program("2.9")
def graph_iterdeps(c):
    res = c.t.add.apply_async((2, 2), link=c.t.mul.s(16))
    c.get(res)
    c.sleep(0.3)
    return {"deps": c.attempt(lambda: len(list(res.iterdeps())))}


@program("2.9")
def graph_children_from_spawn(c):
    res = c.t.spawn.delay(3)
    c.get(res)
    c.sleep(0.2)
    children = c.attempt(lambda: res.children)
    return {"n_children": len(children) if isinstance(children, list) else children}


@program("2.9")
def graph_chord_in_chain_shape(c):
    ch = c.t.identity.si(1) | c.t.identity.si(2) | c.chord([c.t.identity.si(50), c.t.identity.si(51)], c.t.xsum.s())
    res = ch.delay()
    c.label_tree(res)
    return {"value": c.get(res), "shape": c.shape(res)}


@program(
    "2.9",
    differs=Differs(
        design=8,
        why="the result graph lives on the server (Celery: parent is known only to the building process)",
        celery={"parent": None},
        motet={"parent": {"id": "<res^1>", "value": 2}},
    ),
)
def graph_parent_from_id_alone(c):
    res = (c.t.add.s(1, 1) | c.t.add.s(1)).delay()
    c.label_tree(res)
    c.get(res)
    fresh = c.app.AsyncResult(res.id)
    parent = c.attempt(lambda: fresh.parent and fresh.parent.id)
    return {"value": c.get(fresh), "parent": parent if parent is None else {"id": parent, "value": c.get(fresh.parent)}}


@program("2.9")
def graph_children_from_id_alone(c):
    res = (c.t.add.s(1, 1) | c.t.add.s(1)).delay()
    c.label_tree(res)
    c.get(res)
    fresh = c.app.AsyncResult(res.parent.id)
    # Celery sends the next step before it stores the first step's result (children included), so
    # the last step can be ready while the first still reads as pending (children None): wait for it.
    c.wait_ready(fresh)
    try:
        return {"children": [c.norm(ch.id) for ch in fresh.children or []]}
    except Exception as e:  # noqa: BLE001
        return {"children": c.exc(e)}


@program(
    "2.9",
    differs=Differs(
        design=8,
        why="the result graph lives on the server: a group member's parent is the task it got its input from"
        " (Celery: members have no parent)",
        celery={"member_parents": [None, None]},
        motet={"member_parents": ["<g^1>", "<g^1>"]},
    ),
)
def graph_group_in_chain_parent(c):
    res = (c.t.add.s(1, 1) | c.group(c.t.add.s(1), c.t.add.s(2))).delay()
    c.label_tree(res, "g")
    value = c.get(res)
    return {
        "value": value,
        "shape": c.shape(res, members=False),
        "members": [c.cls(r) for r in res.results],
        "member_parents": [c.attempt(lambda r=r: r.parent and r.parent.id) for r in res.results],
    }


@program("2.9")
def graph_root_ids_across_canvas(c):
    res = (c.t.req_info.si() | c.group(c.t.req_info.si(), c.t.req_info.si()) | c.t.req_info.si()).delay()
    c.label_tree(res)
    last = res.get(timeout=c.T)
    header = res.parent.get(timeout=c.T) if res.parent is not None else []
    first_id = res.parent.parent.id if res.parent is not None and res.parent.parent is not None else None
    return {
        "roots_are_first": [v["root_id"] == first_id for v in [*header, last]],
        "header_parents_are_first": [v["parent_id"] == first_id for v in header],
    }


@program("1.7")
def result_exists(c):
    res = c.t.add.delay(1, 1)
    c.get(res)
    return {
        "done": c.attempt(res.exists),
        "unknown": c.attempt(c.app.AsyncResult(str(uuid.uuid4())).exists),
    }


@program("1.7")
def result_info_alias(c):
    ok = c.t.add.delay(1, 1)
    bad = c.t.fail.delay()
    c.get(ok)
    c.wait_ready(bad)
    return {"ok": c.attempt(lambda: ok.info), "bad": c.attempt(lambda: bad.info)}


@program("1.7")
def result_children_before_ready(c):
    res = c.t.sleep_then.delay(1, 0.5)
    before = c.attempt(lambda: res.children)
    c.get(res)
    return {"before": before, "after": c.attempt(lambda: res.children)}


@program(
    "1.7",
    known=("Motet's IncompleteStream names the result that is not ready; Celery's has no message"),
)
def graph_of_unfinished_result(c):
    res = c.t.sleep_then.delay(1, 0.5)
    return {"graph": c.attempt(lambda: len(res.graph)), "collect": c.attempt(lambda: list(res.collect()))}


@program("1.7")
def graph_get_leaf(c):
    res = c.t.add.apply_async((2, 2), link=c.t.mul.s(16))
    c.get(res)
    c.sleep(0.3)
    return {"leaf": c.attempt(res.get_leaf)}


@program("1.10")
def graph_to_dot(c):
    import io

    res = c.t.add.apply_async((2, 2), link=c.t.mul.s(16))
    c.get(res)
    c.sleep(0.3)
    out = io.StringIO()
    done = c.attempt(lambda: res.graph.to_dot(out))
    text = out.getvalue()
    children = res.children or []
    return {
        "to_dot": done,
        "has_parent_id": res.id in text,
        "has_child_id": bool(children) and children[0].id in text,
    }


@program("1.8")
def groupresult_from_results(c):
    a, b = c.t.add.delay(1, 1), c.t.add.delay(2, 2)
    try:
        res = c.app.GroupResult("gid-conformance", [a, b])
    except Exception as e:  # noqa: BLE001
        return {"construct": c.exc(e)}
    return {"len": len(res), "value": c.get(res), "children_len": len(res.children)}


@program("1.8")
def groupresult_failure_order_get_join_join_native(c):
    """Member 0 fails late, member 1 at once: which failure does each way of waiting raise?"""

    def fresh():
        return c.group(c.t.fail_after.s(0.6), c.t.fail_key.s()).delay()

    a, b = fresh(), fresh()
    return {
        "get": c.get(a),
        "join": c.attempt(lambda: b.join(timeout=c.T)),
        # Sent just before the call, so member 0 is still running when it starts (a group sent
        # with the others would be done by now, and the order would be the machine's).
        "join_native": c.attempt(lambda: fresh().join_native(timeout=c.T)),
    }


@program("1.8")
def groupresult_forget(c):
    res = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2)).delay()
    c.get(res)
    c.attempt(res.forget)
    return {"states": [c.state(c.app.AsyncResult(r.id)) for r in res.results]}


@program("1.8")
def groupresult_delete_saved(c):
    res = c.group(c.t.add.s(1, 1)).delay()
    c.get(res)
    c.attempt(res.save)
    deleted = c.attempt(res.delete)
    return {"delete": deleted, "restore_after": c.attempt(lambda: c.app.GroupResult.restore(res.id))}


@program("1.8")
def groupresult_as_tuple(c):
    res = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2)).delay()
    c.label_tree(res, "g")
    c.get(res)
    return {"as_tuple": c.attempt(res.as_tuple)}
