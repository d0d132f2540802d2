"""Celery's `|`: how two canvas objects combine (celery/canvas.py `__or__` rules, 5.x).

==========================  ==================================================================
left | right                result
==========================  ==================================================================
task | task                 chain(task, task)
task | chain                chain(task, *chain.tasks)            (a chain with options stays one step)
task | group                chain(task, group)                   (a one-member group is unrolled)
chain | task                chain(*tasks, task); if the chain ends in a group: that group and
                            task become a chord; if it ends in a chord: task joins the body
chain | chain               each step of the right chain is added with `|`, one by one
chain | group               chain(*tasks, group); if the chain ends in a chord: group joins the body
group | anything            chord(group, body=anything)          (group | empty group is the group)
chord | task                the task joins the body (body | task)
chord | one-member group    the member joins the body
chord | chain / group       chain(chord, ...)
chunks | anything           like group | anything (Motet: chunks compose like a group)
==========================  ==================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from motet.canvas import kinds

if TYPE_CHECKING:
    from motet.canvas.chain import chain
    from motet.canvas.chord import chord
    from motet.canvas.group import group
    from motet.canvas.signature import Signature

__all__ = ["compose", "upgrade_steps"]


def upgrade_steps(steps: list[Signature]) -> list[Signature]:
    """Celery's rule when a chain runs: a group followed by another step becomes a chord.

    Args:
        steps: A chain's steps.

    Returns:
        A new list; the input and its members are not modified.
    """
    group_, chord_ = kinds.group_type(), kinds.chord_type()
    out: list[Signature] = []
    for step in steps:
        if out and isinstance(out[-1], group_):
            out[-1] = chord_.from_group(out[-1], step)
        else:
            out.append(step)
    return out


def _unroll(g: group) -> Signature:
    """Celery's maybe_unroll_group: a group of one member is that member."""
    return g.tasks[0] if len(g.tasks) == 1 else g


def _is_empty_group(sig: Signature) -> bool:
    return isinstance(sig, kinds.group_type()) and not sig.tasks


def _chain_of(left: Signature, steps: list[Signature]) -> chain:
    options = left.options if isinstance(left, kinds.chain_type()) else {}
    return kinds.chain_type()._build(steps, options, left.app or next((s.app for s in steps if s.app), None))


def _with_body(c: chord, extra: Signature) -> chord:
    return kinds.chord_type()._build(
        list(c.tasks), compose(c.body, extra) if c.body is not None else extra, c.options, c.app
    )


def _task_then(left: Signature, right: Signature) -> chain:
    if isinstance(right, kinds.chain_type()) and not right.options:
        return _chain_of(left, [left, *right.tasks])
    if isinstance(right, kinds.group_type()):
        return _chain_of(left, [left, _unroll(right)])
    return _chain_of(left, [left, right])


def _chain_then(left: chain, right: Signature) -> Signature:
    tasks = list(left.tasks)
    if _is_empty_group(right):
        return left
    if isinstance(right, kinds.group_type()):
        unrolled = _unroll(right)
        if not isinstance(unrolled, kinds.group_type()):
            return _chain_then(left, unrolled)
        if not tasks:
            return right
        if isinstance(tasks[-1], kinds.chord_type()):
            tasks[-1] = _with_body(tasks[-1], right)
            return _chain_of(left, tasks)
        return _chain_of(left, [*tasks, right])
    if isinstance(right, kinds.chain_type()) and not right.options:
        out: Signature = left
        for step in right.tasks:
            out = compose(out, step)
        return out
    if tasks and isinstance(tasks[-1], kinds.group_type()):
        tasks[-1] = kinds.chord_type().from_group(tasks[-1], right)
        if len(tasks) > 1 and isinstance(tasks[-2], kinds.chord_type()):
            # Two chords in a row: the second one runs after the first one's body.
            tasks[-2:] = [_with_body(tasks[-2], tasks[-1])]
        return _chain_of(left, tasks)
    if tasks and isinstance(tasks[-1], kinds.chord_type()) and not isinstance(right, kinds.chord_type()):
        tasks[-1] = _with_body(tasks[-1], right)
        return _chain_of(left, tasks)
    return _chain_of(left, [*tasks, right])


def _chord_then(left: chord, right: Signature) -> Signature:
    if not isinstance(right, (kinds.group_type(), kinds.chain_type())):
        return _with_body(left, right)
    if isinstance(right, kinds.group_type()) and len(right.tasks) == 1:
        return _with_body(left, right.tasks[0])
    return _task_then(left, right)


def compose(left: Signature, right: Any) -> Any:
    """`left | right` with Celery's upgrade rules (see the module docstring).

    Args:
        left: A signature or canvas.
        right: A signature or canvas (anything else gives NotImplemented).

    Returns:
        A new canvas. Members are shared with the operands, as in Celery; nodes that change
        (a chord whose body grows) are new objects.
    """
    if right is None and isinstance(left, kinds.group_type()):
        return kinds.chord_type().from_group(left, None)  # Celery: group | None is a chord, body to come
    if not isinstance(right, kinds.signature_type()):
        return NotImplemented
    if isinstance(left, kinds.chunks_type()):
        left = left.group()
    if isinstance(left, kinds.chord_type()):
        return _chord_then(left, right)
    if isinstance(left, kinds.group_type()):
        return left if _is_empty_group(right) else kinds.chord_type().from_group(left, right)
    if isinstance(left, kinds.chain_type()):
        return _chain_then(left, right)
    return _task_then(left, right)
