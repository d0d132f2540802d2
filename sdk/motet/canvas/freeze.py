"""Freeze: assign ids on the client and build the result objects, as Celery's `freeze()` does.

Every node gets an id before submission, so `apply_async` returns complete result objects at
once: a task's AsyncResult, a group's GroupResult (members in order), a chain's last result
whose `parent` is the step before, and a chord's body result whose `parent` is the header
GroupResult. Options set here, as Celery sets them: `task_id` (a group id for groups and
chunks), `root_id` (the first task of the workflow), `parent_id` (the task whose result this
node receives), `group_id` / `group_index` (membership), and ids for link callbacks. A chord's
`group_id` option is its header group id. Ids already present are kept, so freezing twice is
harmless. A task sent with `ignore_result` (or declared so where it is registered here) gets
an AsyncResult that knows it: its `get()` returns None at once, as in Celery.

A group directly inside a group or a chord header is spliced into the outer list here, as
Celery's freeze does but in submission order (`splice`): the outer GroupResult's `results` are
the flat list of member results, matching the flat list of values the scheduler gives.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, TypeGuard

from motet.canvas import kinds
from motet.canvas.compose import upgrade_steps
from motet.exceptions import CanvasError
from motet.result import AsyncResult, GroupResult, ResultBase

if TYPE_CHECKING:
    from motet.canvas.chain import chain
    from motet.canvas.chord import chord
    from motet.canvas.group import group
    from motet.canvas.mapping import chunks
    from motet.canvas.signature import Signature

__all__ = ["first_task_id", "freeze", "splice"]

# The options a group passes to the members that set none (the scheduler's rule): a spliced
# group is gone once frozen, so its members take them here.
_GROUP_INHERITED = ("queue", "priority", "time_limit", "soft_time_limit", "max_retries", "countdown", "eta", "expires")


def _new_id() -> str:
    return str(uuid.uuid4())


def _chunk_ids(ck: chunks) -> list[str]:
    if len(ck.member_ids) != ck.chunk_count:
        ck.member_ids = [_new_id() for _ in range(ck.chunk_count)]
    return ck.member_ids


def _spliced(node: Signature) -> TypeGuard[group]:
    # A group with its own callbacks stays one member: they run once, after it (its own join).
    return isinstance(node, kinds.group_type()) and not node.options.get("link") and not node.options.get("link_error")


def splice(members: list[Signature]) -> list[Signature]:
    """Members of a group / chord header with each group directly among them replaced by its
    own members, recursively, in submission order (Celery splices them, reversed when frozen).

    A chain ending in a group is one member (its value stays a nested list), and so is a group
    that carries link / link_error. A spliced group's options (queue, priority, limits, timing)
    are given to its members that set none; its id names nothing any more. The member objects
    are the given ones, updated in place (freeze works on a copy the caller made).
    """
    if not any(_spliced(m) for m in members):
        return members
    out: list[Signature] = []
    for member in members:
        if not _spliced(member):
            out.append(member)
            continue
        for inner in splice(member.tasks):
            for key in _GROUP_INHERITED:
                if member.options.get(key) is not None and inner.options.get(key) is None:
                    inner.options[key] = member.options[key]
            out.append(inner)
    return out


def _first_member(members: list[Signature]) -> Signature | None:
    # The first member once spliced, without changing anything.
    for member in members:
        found = _first_member(member.tasks) if _spliced(member) else member
        if found is not None:
            return found
    return None


def first_task_id(node: Signature) -> str:
    """The id of the task that runs first in `node` (assigned now if missing): the root id."""
    if isinstance(node, kinds.chain_type()):
        if not node.tasks:
            raise CanvasError("a chain needs at least one task")
        return first_task_id(node.tasks[0])
    if isinstance(node, kinds.chord_type()):
        first = _first_member(node.tasks)
        return first_task_id(first if first is not None else node.need_body())
    if isinstance(node, kinds.group_type()):
        first = _first_member(node.tasks)
        if first is not None:
            return first_task_id(first)
        group_id: str = node.options.setdefault("task_id", _new_id())
        return group_id
    if isinstance(node, kinds.chunks_type()):
        ids = _chunk_ids(node)
        return ids[0] if ids else node.options.setdefault("task_id", _new_id())
    task_id: str = node.options.setdefault("task_id", _new_id())
    return task_id


def _attach(result: ResultBase, parent: ResultBase) -> None:
    """Links the first result of a frozen step (the top of its parent line) to `parent`."""
    node, seen = result, set()
    while node._known_parent is not None:
        if node.id in seen:
            raise CanvasError("the canvas contains the same result id twice")
        seen.add(node.id)
        node = node._known_parent
    node._known_parent = parent


def _membership(
    options: dict[str, Any], group_id: str | None, group_index: int | None, root_id: str, parent_id: str | None
) -> None:
    if group_id:
        options["group_id"] = group_id
    if group_index is not None:
        options["group_index"] = group_index
    options["root_id"] = root_id
    if parent_id:
        options["parent_id"] = parent_id


def _freeze_links(options: dict[str, Any], root_id: str, parent_id: str | None) -> None:
    for callback in [*options.get("link", ()), *options.get("link_error", ())]:
        freeze(callback, root_id=root_id, parent_id=parent_id)


def _freeze_task(
    sig: Signature,
    _id: str | None,
    group_id: str | None,
    group_index: int | None,
    root_id: str | None,
    parent_id: str | None,
) -> AsyncResult:
    opts = sig.options
    task_id = opts.get("task_id") or _id or _new_id()
    opts["task_id"] = task_id
    root = root_id or task_id
    _membership(opts, group_id, group_index, root, parent_id)
    _freeze_links(opts, root, task_id)
    if opts.get("ignore_result") is None and not isinstance(sig, kinds.map_type()):
        declared = sig.type  # the Task registered here under this name, as Celery's apply_async reads it
        if declared is not None and declared.ignore_result:
            opts["ignore_result"] = True
    result = AsyncResult(task_id, app=sig._app())
    result.ignored = bool(opts.get("ignore_result"))
    return result


def _freeze_chain(
    c: chain, _id: str | None, group_id: str | None, group_index: int | None, root_id: str | None, parent_id: str | None
) -> ResultBase:
    if not c.tasks:
        raise CanvasError("a chain needs at least one task")
    c.tasks = upgrade_steps(c.tasks)
    root = root_id or first_task_id(c.tasks[0])
    last_id = c.options.get("task_id") or _id
    previous: ResultBase | None = None
    for index, step in enumerate(c.tasks):
        last = index == len(c.tasks) - 1
        if previous is None:
            step_parent = parent_id
        else:
            step_parent = previous.id if isinstance(previous, AsyncResult) else None
        result = freeze(
            step,
            _id=last_id if last else None,
            group_id=group_id if last else None,
            group_index=group_index if last else None,
            root_id=root,
            parent_id=step_parent,
        )
        if previous is not None:
            _attach(result, previous)
        previous = result
    assert previous is not None
    _freeze_links(c.options, root, previous.id)
    return previous


def _freeze_group(
    g: group, _id: str | None, group_id: str | None, group_index: int | None, root_id: str | None, parent_id: str | None
) -> GroupResult:
    gid = g.options.get("task_id") or _id or _new_id()
    g.options["task_id"] = gid
    g.tasks = splice(g.tasks)
    root = root_id or first_task_id(g)
    _membership(g.options, group_id, group_index, root, parent_id)
    results = [freeze(t, group_id=gid, group_index=i, root_id=root, parent_id=parent_id) for i, t in enumerate(g.tasks)]
    _freeze_links(g.options, root, None)
    return GroupResult(gid, results, app=g._app())


def _freeze_chord(
    c: chord, _id: str | None, group_id: str | None, group_index: int | None, root_id: str | None, parent_id: str | None
) -> ResultBase:
    body = c.need_body()
    header_id = c.options.get("group_id") or _new_id()
    c.options["group_id"] = header_id
    body_id = c.options.pop("task_id", None) or _id
    # Celery: an empty chain in a chord header adds nothing to wait for (the body may get []).
    c.tasks = [t for t in splice(c.tasks) if not (isinstance(t, kinds.chain_type()) and not t.tasks)]
    root = root_id or first_task_id(c)
    c.options["root_id"] = root
    if parent_id:
        c.options["parent_id"] = parent_id
    header = GroupResult(
        header_id,
        [
            freeze(t, group_id=header_id, group_index=i, root_id=root, parent_id=parent_id)
            for i, t in enumerate(c.tasks)
        ],
        app=c._app(),
    )
    result = freeze(body, _id=body_id, group_id=group_id, group_index=group_index, root_id=root)
    _attach(result, header)
    _freeze_links(c.options, root, result.id)
    return result


def _freeze_chunks(
    ck: chunks,
    _id: str | None,
    group_id: str | None,
    group_index: int | None,
    root_id: str | None,
    parent_id: str | None,
) -> GroupResult:
    gid = ck.options.get("task_id") or _id or _new_id()
    ck.options["task_id"] = gid
    ids = _chunk_ids(ck)
    root = root_id or (ids[0] if ids else gid)
    _membership(ck.options, group_id, group_index, root, parent_id)
    _freeze_links(ck.options, root, None)
    app = ck._app()
    return GroupResult(gid, [AsyncResult(i, app=app) for i in ids], app=app)


def freeze(
    node: Signature,
    *,
    _id: str | None = None,
    group_id: str | None = None,
    group_index: int | None = None,
    root_id: str | None = None,
    parent_id: str | None = None,
) -> ResultBase:
    """Assigns ids to `node` and everything in it (in place) and returns its result object.

    Args:
        node: A signature or canvas.
        _id: The result id to use when the node has none.
        group_id: The group the node is a member of.
        group_index: The node's position in that group.
        root_id: The workflow's root id (default: the first task of `node`).
        parent_id: The id of the task whose result the node receives.

    Returns:
        AsyncResult or GroupResult, `parent` linked as in Celery.

    Raises:
        CanvasError: for an empty chain or a chord without a body.
    """
    if isinstance(node, kinds.chain_type()):
        return _freeze_chain(node, _id, group_id, group_index, root_id, parent_id)
    if isinstance(node, kinds.chord_type()):
        return _freeze_chord(node, _id, group_id, group_index, root_id, parent_id)
    if isinstance(node, kinds.group_type()):
        return _freeze_group(node, _id, group_id, group_index, root_id, parent_id)
    if isinstance(node, kinds.chunks_type()):
        return _freeze_chunks(node, _id, group_id, group_index, root_id, parent_id)
    return _freeze_task(node, _id, group_id, group_index, root_id, parent_id)
