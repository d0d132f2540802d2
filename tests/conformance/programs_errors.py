"""Programs for CELERY-SEMANTICS §2.8 (error propagation) and §1.9 (exceptions and states that
matter for canvases), including Celery's hangs (#6437, #4004, #8786): those programs use short
timeouts, and a get() that runs out of time is observed as "TIMEOUT"."""

from __future__ import annotations

import datetime as dt

from tests.conformance.corpus import Differs, program

# -- chains ---------------------------------------------------------------------------------


@program("2.8")
def chain_failure_marks_later_members(c):
    res = c.chain(c.t.add.s(1, 2), c.t.fail.s(), c.t.add.s(1), c.t.add.s(1)).delay()
    c.label_tree(res)
    got = c.get(res)
    c.sleep(0.3)
    first = res.parent.parent.parent
    return {
        "get": got,
        "states": [c.state(first), c.state(res.parent.parent), c.state(res.parent), c.state(res)],
        "first_value": c.get(first),
        "middle_result": c.norm(res.parent.result),
    }


@program("2.8")
def chain_later_members_never_run(c):
    res = (c.t.add.s(1, 1) | c.t.fail.s() | c.rec("later")).delay()
    return {"get": c.get(res), "later": c.count("later", n=1, timeout=1.0)}


@program("2.8")
def chain_failure_in_first_step(c):
    res = (c.t.fail.s() | c.t.add.s(1)).delay()
    return {"get": c.get(res), "no_follow": c.attempt(lambda: res.get(timeout=c.T, follow_parents=False))}


# -- chords -----------------------------------------------------------------------------------


@program("2.8")
def chord_header_failure(c):
    res = c.chord([c.t.fail.s(), c.t.add.s(1, 1)], c.t.xsum.s()).delay()
    c.label_tree(res, "body")
    got = c.get(res)
    return {
        "get": got,
        "no_follow": c.get(res, follow_parents=False),
        "no_propagate": c.get(res, propagate=False),
        "result": c.norm(res.result),
        "state": c.state(res),
    }


@program("2.8")
def chord_header_failure_other_members_still_run(c):
    res = c.chord([c.t.fail.s(), c.t.sleep_then.s(5, 0.2), c.rec("member")], c.t.xsum.s()).delay()
    c.get(res)
    return {"member_runs": c.count("member"), "sibling_state": c.state(res.parent.results[1])}


@program("2.8")
def chord_header_failure_body_never_runs(c):
    res = c.chord([c.t.fail.s(), c.t.add.s(1, 1)], c.rec("body")).delay()
    c.get(res)
    return {"body_runs": c.count("body", n=1, timeout=1.0)}


@program("2.8")
def chord_two_header_failures_chord_error_names_one(c):
    # Two members fail at about the same time: which one get() raises and the ChordError names
    # depends on timing, on Celery as on Motet. What is observed is that it is one of them.
    res = c.chord([c.t.add.s(1, 1), c.t.fail.s(), c.t.fail_key.s()], c.t.xsum.s()).delay()
    c.label_tree(res, "body")
    got = c.get(res)
    c.wait_ready(res)
    result = c.attempt(lambda: c.norm(res.result))
    raised = got.get("raised") if isinstance(got, dict) else got
    names = result.get("msg", "") if isinstance(result, dict) else ""
    return {
        "get_raises_a_failed_members_error": raised in ("ValueError", "KeyError"),
        "result": result.get("exc") if isinstance(result, dict) else result,
        "chord_error_names_one_failed_member": ("<body^1[1]>" in names) != ("<body^1[2]>" in names),
    }


@program("2.8")
def chord_nested_chord_failure(c):
    inner = c.chord([c.t.fail.s()], c.t.xsum.s())
    res = c.chord([inner, c.t.add.s(1, 1)], c.t.xsum.s()).delay()
    return {"get_class": c.attempt(lambda: type(res.get(timeout=c.T)).__name__)}


@program("2.8")
def chord_body_failure(c):
    res = c.chord([c.t.add.s(1, 1)], c.t.fail.s()).delay()
    return {"get": c.get(res), "state": c.state(res)}


@program("2.8")
def chord_of_chains_failing_early_6220(c):
    res = c.chord([c.t.fail.s() | c.t.add.s(1), c.t.add.s(1, 1)], c.t.xsum.s()).delay()
    # Settled first: Celery's get() checks the parents once before it waits, so a get() that
    # starts before the failure raises the body's ChordError and one that starts after raises
    # the member's ValueError (its chain marks the later step failed too) -- a race in Celery.
    c.wait_ready(res)
    return {"get": c.get(res)}


@program("2.8")
def chord_revoked_header_member(c):
    res = c.chord([c.t.add.s(1, 1).set(countdown=1.5), c.t.add.s(2, 2)], c.t.xsum.s()).delay()
    res.parent.results[0].revoke()
    return {"get": c.get(res, timeout=6), "member_state": c.state(res.parent.results[0])}


# -- groups -----------------------------------------------------------------------------------


@program("2.8")
def group_member_failure(c):
    res = c.group(c.t.add.s(1, 1), c.t.fail.s(), c.t.add.s(2, 2)).delay()
    got = c.get(res)
    return {
        "get": got,
        "no_propagate": c.get(res, propagate=False),
        "ready": res.ready(),
        "successful": res.successful(),
        "failed": res.failed(),
        "waiting": res.waiting(),
        "completed_count": res.completed_count(),
    }


@program(
    "2.8",
    timeout=3,
    differs=Differs(
        design=1,
        why="no hang after an upstream failure (Celery #6437: a trailing group waits forever)",
        celery={"get": "TIMEOUT"},
        motet={"get": {"raised": "ValueError", "msg": "boom"}},
    ),
)
def trailing_group_after_failure_6437(c):
    res = (c.t.add.s(1, 1) | c.t.fail.s() | c.group(c.t.add.s(1), c.t.add.s(2))).delay()
    return {"get": c.get(res)}


@program(
    "2.8",
    timeout=3,
    differs=Differs(
        design=1,
        why="no hang after an upstream failure (Celery #4004)",
        celery={"get": "TIMEOUT"},
        motet={"get": {"raised": "ValueError", "msg": "boom"}},
    ),
)
def trailing_group_after_failing_first_step_4004(c):
    res = c.chain(c.t.fail.si(), c.group(c.t.add.si(1, 1), c.t.add.si(2, 2))).delay()
    return {"get": c.get(res)}


@program("2.8", timeout=3)
def chain_of_groups_with_failing_member_8786(c):
    ch = c.chain(c.group(c.t.add.s(1, 1), c.t.fail.s()), c.group(c.t.xsum.s(), c.rec("later")))
    res = ch.delay()
    return {"get": c.get(res), "later_runs": c.count("later", n=1, timeout=1.0)}


@program("2.8")
def group_failure_in_double_chain_4834(c):
    ch = c.chain(c.t.add.s(1, 1), c.chain(c.group(c.t.fail.s(), c.t.add.s(1)), c.t.xsum.s()))
    return {"get": c.get(ch.delay())}


# -- arguments that do not fit ---------------------------------------------------------------------


@program(
    "2.8",
    differs=Differs(
        design=7,
        why="an argument error is blamed on the task that received it, not on the upstream task",
        celery={"first_state": "FAILURE", "second_state": "FAILURE"},
        motet={"first_state": "SUCCESS", "second_state": "FAILURE"},
    ),
)
def argument_error_blamed_on_receiver(c):
    res = (c.t.add.s(1, 1) | c.t.noarg.s()).delay()
    got = c.get(res, timeout=5)
    c.sleep(0.3)
    return {
        "get_class": got.get("raised") if isinstance(got, dict) else got,
        "first_state": c.state(res.parent),
        "second_state": c.state(res),
    }


@program(
    "2.8",
    timeout=3,
    differs=Differs(
        design=1,
        why="no hang after an upstream failure: an argument error before a group fails the group's result",
        celery={"get": "TIMEOUT"},
        motet={"get": "TypeError"},
    ),
)
def argument_error_before_group(c):
    res = (c.t.add.s(1, 1) | c.group(c.t.noarg.s(), c.t.noarg.s())).delay()
    got = c.get(res)
    return {"get": got.get("raised") if isinstance(got, dict) else got}


# -- revoked and expired ----------------------------------------------------------------------


@program("2.8")
def revoke_pending_task(c):
    res = c.t.add.apply_async((1, 1), countdown=1.5)
    res.revoke()
    return {"get": c.get(res, timeout=6), "state": c.state(res)}


@program("1.9")
def expires_in_the_past(c):
    res = c.t.add.apply_async((1, 1), expires=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10))
    return {"get": c.get(res), "state": c.state(res)}


@program("1.9")
def expires_before_countdown(c):
    res = c.t.add.apply_async((1, 1), countdown=1.5, expires=0.5)
    return {"get": c.get(res, timeout=6), "state": c.state(res)}


@program(
    "2.8",
    timeout=8,
    differs=Differs(
        design=9,
        why="revoke cascades: what follows a revoked step ends REVOKED, never PENDING forever (#8460)",
        celery={"states": ["SUCCESS", "REVOKED", "PENDING"]},
        motet={"states": ["SUCCESS", "REVOKED", "REVOKED"]},
    ),
)
def revoke_middle_chain_step(c):
    res = (c.t.sleep_then.s(1, 0.8) | c.t.add.s(1) | c.t.add.s(1)).delay()
    res.parent.revoke()
    first = res.parent.parent
    c.get(first)
    c.sleep(1.0)
    return {"states": [c.state(first), c.state(res.parent), c.state(res)]}


@program(
    "2.8",
    timeout=8,
    differs=Differs(
        design=9,
        why="revoking the root id cancels the whole canvas"
        " (Celery: the running first step is not stopped, and the chain goes on)",
        celery={"states": ["SUCCESS", "SUCCESS", "SUCCESS"]},
        motet={"states": ["SUCCESS", "REVOKED", "REVOKED"]},
    ),
)
def revoke_root_of_running_chain(c):
    res = (c.t.started_sleep.s(1, 0.8, key=c.key("started")) | c.t.add.s(1) | c.t.add.s(1)).delay()
    first = res.parent.parent
    c.records("started", grace=0)  # the first step is running
    first.revoke()
    c.get(first)
    c.sleep(1.0)
    return {"states": [c.state(first), c.state(res.parent), c.state(res)]}


@program("1.9")
def task_revoked_error_class(c):
    res = c.t.add.apply_async((1, 1), countdown=1.5)
    res.revoke()
    try:
        res.get(timeout=6)
        return {"raised": None}
    except c.TaskRevokedError as e:
        return {"raised": "TaskRevokedError", "is_facade_class": True, "msg": str(e)}
    except Exception as e:  # noqa: BLE001
        return {"raised": type(e).__name__, "is_facade_class": False}


@program("1.9")
def chord_error_class(c):
    res = c.chord([c.t.fail.s()], c.t.xsum.s()).delay()
    c.label_tree(res, "body")
    try:
        res.get(timeout=c.T, follow_parents=False)
        return {"raised": None}
    except c.ChordError as e:
        return {"is_facade_chord_error": True, "msg": c.norm(str(e))}
    except Exception as e:  # noqa: BLE001
        return {"is_facade_chord_error": False, "raised": c.exc(e)}


@program("1.9")
def timeout_error_class(c):
    res = c.t.sleep_then.delay(1, 2.5)  # Celery checks its timeout between 1 s waits
    try:
        res.get(timeout=0.2)
        return {"raised": None}
    except c.TimeoutError:
        return {"raised": "TimeoutError"}
