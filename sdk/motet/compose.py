"""Celery's `|`: how two canvas objects combine."""

from __future__ import annotations

from typing import Any

from motet.canvas import Signature, chain, chord, chunks, group

__all__ = ["compose"]


def compose(left: Signature, right: Any) -> Any:
    """Celery's `|`: flatten chains, upgrade group | task to a chord, extend chord bodies."""
    if isinstance(right, chunks):
        right = right.group()
    if not isinstance(right, Signature):
        return NotImplemented
    if isinstance(left, chord) and left.body is not None and not isinstance(right, group):
        new = left._copy()
        new.body = compose(new.body, right) if new.body is not None else right
        return new
    if isinstance(left, group) and not isinstance(left, chord) and not isinstance(right, group):
        return chord(left.tasks, right, app=left.app, **left.options)
    if isinstance(left, chain):
        steps = list(left.tasks)
        if steps and isinstance(steps[-1], group) and not isinstance(steps[-1], chord) and not isinstance(right, group):
            steps[-1] = chord(steps[-1].tasks, right, app=left.app, **steps[-1].options)
            return chain(*steps, app=left.app, **left.options)
        tail = right.tasks if isinstance(right, chain) and not right.options else [right]
        return chain(*steps, *tail, app=left.app, **left.options)
    if isinstance(right, chain) and not right.options:
        return chain(left, *right.tasks)
    return chain(left, right)


