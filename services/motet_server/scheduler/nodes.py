"""Server-side rules over `motet.v1.Canvas` nodes: kinds, options, ids, result refs and validation.

These functions are pure: they read and modify protobuf messages and never touch the store.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from motet import payload as payloads
from motet.exceptions import EncodeError
from motet.v1 import canvas_pb2, common_pb2, results_pb2
from motet_server.config import MAX_DEPTH, MAX_PAYLOAD_BYTES

__all__ = [
    "MAX_DEPTH",
    "MAX_PAYLOAD_BYTES",
    "CanvasInvalid",
    "all_task_ids",
    "chunk_member_id",
    "decode_json",
    "encode_json",
    "ensure_ids",
    "first_task_id",
    "kind_of",
    "options_of",
    "result_id",
    "result_ref",
    "spliced",
    "spliced_members",
    "validate",
]


class CanvasInvalid(ValueError):
    """A canvas that cannot run; carries (field path, description) violations."""

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        self.violations = violations
        super().__init__("; ".join(f"{f}: {d}" for f, d in violations))


def encode_json(value: object) -> common_pb2.Payload:
    """Encodes a JSON value as a payload."""
    return common_pb2.Payload(encoding="json", data=json.dumps(value, separators=(",", ":")).encode())


def decode_json(payload: common_pb2.Payload, default: object = None) -> Any:
    """Decodes a JSON payload as plain JSON data (an empty payload gives ``default``).

    Tagged values (kombu's ``{"__type__": ..., "__value__": ...}``: datetimes, Decimals, bytes,
    pickled values) stay the objects they are on the wire: the scheduler moves values from a
    result into arguments and lists, and passes them on untouched for the worker to decode
    (turning them into Python values here made `encode_json` fail on a datetime).

    Raises:
        EncodeError: the payload is not JSON.
    """
    if not payload.data:
        return default
    if payload.encoding not in ("", payloads.JSON):
        raise EncodeError(f"payload encoding {payload.encoding!r} is not supported (only 'json')")
    try:
        return json.loads(payload.data)
    except ValueError as err:
        raise EncodeError(f"payload is not valid JSON: {err}") from None


def kind_of(node: canvas_pb2.Canvas) -> str | None:
    """Which kind of node a canvas is ("signature", "chain", ...), or None when it sets none.

    The one place the ``kind`` oneof is read.
    """
    return node.WhichOneof("kind")


def options_of(node: canvas_pb2.Canvas) -> canvas_pb2.Options:
    """Returns the (mutable) options message of any node kind."""
    kind = kind_of(node)
    if kind is None:
        raise CanvasInvalid([("canvas", "a canvas node must set one of signature, chain, group, chord, map, chunks")])
    options: canvas_pb2.Options = getattr(node, kind).options  # every kind has its options field
    return options


def chunk_member_id(group_id: str, index: int) -> str:
    """The id of chunk `index` when the client did not assign one (stable for a group id)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"motet:chunks:{group_id}:{index}"))


def ensure_ids(node: canvas_pb2.Canvas) -> None:
    """Assigns a uuid4 to every id the client left empty."""
    kind = kind_of(node)
    opts = options_of(node)
    if kind in ("signature", "group", "map", "chunks") and not opts.task_id:
        opts.task_id = str(uuid.uuid4())
    if kind == "chain":
        for child in node.chain.tasks:
            ensure_ids(child)
    elif kind == "group":
        for child in node.group.tasks:
            ensure_ids(child)
    elif kind == "chord":
        if not opts.group_id:
            opts.group_id = str(uuid.uuid4())
        for child in node.chord.header:
            ensure_ids(child)
        ensure_ids(node.chord.body)
    elif kind == "chunks":
        ids = node.chunks.member_ids
        count = _chunk_count(node.chunks)
        if len(ids) != count:
            del ids[:]
            ids.extend(chunk_member_id(opts.task_id, i) for i in range(count))
    for link in list(opts.link) + list(opts.link_error):
        ensure_ids(link)


def _chunk_count(chunks: canvas_pb2.Chunks) -> int:
    items = decode_json(chunks.items, [])
    assert isinstance(items, list)
    size = max(chunks.size, 1)
    return (len(items) + size - 1) // size


def spliced(node: canvas_pb2.Canvas) -> bool:
    """Whether a group / chord header member is spliced into the outer list (Celery 2.2, 2.5, 2.6).

    A group directly inside a group or a chord header gives its members, not one nested list;
    Motet keeps submission order (docs/celery-differences.md, point 2). A group that carries its own
    callbacks or errbacks stays one member: they run once, after it, from its own join.
    """
    if kind_of(node) != "group":
        return False
    opts = node.group.options
    return not opts.link and not opts.link_error


def spliced_members(members: Iterable[canvas_pb2.Canvas]) -> list[canvas_pb2.Canvas]:
    """The members of a group / chord header with every `spliced` group replaced by its own
    members (recursively), in submission order. The messages are the originals: read only."""
    out: list[canvas_pb2.Canvas] = []
    for member in members:
        if spliced(member):
            out += spliced_members(member.group.tasks)
        else:
            out.append(member)
    return out


def result_id(node: canvas_pb2.Canvas) -> str:
    """The id of the result that stands for this node's value."""
    kind = kind_of(node)
    if kind == "chain":
        return result_id(node.chain.tasks[-1])
    if kind == "chord":
        return result_id(node.chord.body)
    return options_of(node).task_id


def first_task_id(node: canvas_pb2.Canvas) -> str:
    """The id of the first task that runs (a workflow's root id)."""
    kind = kind_of(node)
    if kind == "chain":
        return first_task_id(node.chain.tasks[0])
    if kind == "group":
        members = spliced_members(node.group.tasks)
        return first_task_id(members[0]) if members else node.group.options.task_id
    if kind == "chord":
        header = spliced_members(node.chord.header)
        return first_task_id(header[0]) if header else first_task_id(node.chord.body)
    if kind == "chunks":
        return node.chunks.member_ids[0] if node.chunks.member_ids else node.chunks.options.task_id
    return options_of(node).task_id


def result_ref(node: canvas_pb2.Canvas) -> results_pb2.ResultRef:
    """The result graph reference of a node: a task id, or a group with its members."""
    kind = kind_of(node)
    if kind == "group":
        return results_pb2.ResultRef(
            group=results_pb2.GroupRef(
                group_id=node.group.options.task_id,
                members=[result_ref(c) for c in spliced_members(node.group.tasks)],
            )
        )
    if kind == "chunks":
        return results_pb2.ResultRef(
            group=results_pb2.GroupRef(
                group_id=node.chunks.options.task_id,
                members=[results_pb2.ResultRef(task_id=i) for i in node.chunks.member_ids],
            )
        )
    return results_pb2.ResultRef(task_id=result_id(node))


def too_many_nodes(node: canvas_pb2.Canvas, limit: int) -> bool:
    """Whether the canvas has more than ``limit`` nodes (links included); stops counting there,
    so a million-member group is refused in a moment rather than validated and expanded."""
    stack, seen = [node], 0
    while stack:
        current = stack.pop()
        seen += 1
        if seen > limit:
            return True
        kind = kind_of(current)
        if kind == "chain":
            stack.extend(current.chain.tasks)
        elif kind == "group":
            stack.extend(current.group.tasks)
        elif kind == "chord":
            stack.extend(current.chord.header)
            if current.chord.HasField("body"):
                stack.append(current.chord.body)
        if kind is not None:
            opts = options_of(current)
            stack.extend(opts.link)
            stack.extend(opts.link_error)
    return False


def all_task_ids(node: canvas_pb2.Canvas) -> Iterator[str]:
    """Every task id that would produce a result inside this node (links excluded)."""
    kind = kind_of(node)
    if kind == "chain":
        for child in node.chain.tasks:
            yield from all_task_ids(child)
    elif kind == "group":
        for child in node.group.tasks:
            yield from all_task_ids(child)
    elif kind == "chord":
        for child in node.chord.header:
            yield from all_task_ids(child)
        yield from all_task_ids(node.chord.body)
    elif kind == "chunks":
        yield from node.chunks.member_ids
    else:
        yield options_of(node).task_id


def task_routes(node: canvas_pb2.Canvas, queue: str = "", *, links: bool = False) -> Iterator[tuple[str, str]]:
    """``(queue, task name)`` of every task ``all_task_ids`` yields, in the same order; a node
    without a queue of its own takes its nearest ancestor's ("" when none sets one). With
    ``links``, the callbacks and errbacks of every node follow the node's own tasks."""
    kind = kind_of(node)
    if kind is None:
        return
    options = options_of(node)
    queue = options.queue or queue
    if kind == "chain":
        for child in node.chain.tasks:
            yield from task_routes(child, queue, links=links)
    elif kind == "group":
        for child in node.group.tasks:
            yield from task_routes(child, queue, links=links)
    elif kind == "chord":
        for child in node.chord.header:
            yield from task_routes(child, queue, links=links)
        yield from task_routes(node.chord.body, queue, links=links)
    elif kind == "chunks":
        task = node.chunks.task.task
        for _ in node.chunks.member_ids:
            yield (node.chunks.task.options.queue or queue, task)
    elif kind == "map":
        yield (queue or node.map.task.options.queue, node.map.task.task)
    else:
        yield (queue, node.signature.task)
    if links:
        inner = [node.map.task.options] if kind == "map" else [node.chunks.task.options] if kind == "chunks" else []
        for opts in [options, *inner]:
            for callback in [*opts.link, *opts.link_error]:
                yield from task_routes(callback, queue, links=True)


TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
"""A W3C ``traceparent`` value (version, trace id, parent span id, flags)."""


def stamp_traceparent(node: canvas_pb2.Canvas, traceparent: str) -> None:
    """Writes ``traceparent`` into every node's options that has none: the canvas's tasks, the
    signatures inside map and chunks, and every callback and errback."""
    kind = kind_of(node)
    if kind is None:
        return
    opts = options_of(node)
    if not opts.traceparent:
        opts.traceparent = traceparent
    children: list[canvas_pb2.Canvas] = [*opts.link, *opts.link_error]
    if kind == "chain":
        children += node.chain.tasks
    elif kind == "group":
        children += node.group.tasks
    elif kind == "chord":
        children += [*node.chord.header, node.chord.body]
    elif kind in ("map", "chunks"):
        inner = getattr(node, kind).task.options
        if not inner.traceparent:
            inner.traceparent = traceparent
        children += [*inner.link, *inner.link_error]
    for child in children:
        stamp_traceparent(child, traceparent)


def validate(
    node: canvas_pb2.Canvas, path: str = "canvas", depth: int = 0, *, pickle: bool = False
) -> list[tuple[str, str]]:
    """Returns the violations of a canvas (empty when it can run); pickled values are one
    unless ``pickle`` (the scheduler was started with ``--accept-content json,pickle``)."""
    out: list[tuple[str, str]] = []
    if depth > MAX_DEPTH:
        return [(path, f"nesting deeper than {MAX_DEPTH} levels")]
    kind = kind_of(node)
    if kind is None:
        return [(path, "a canvas node must set one of signature, chain, group, chord, map, chunks")]
    opts = options_of(node)
    opath = f"{path}.{kind}.options"
    for seconds in ("countdown", "expires", "time_limit", "soft_time_limit"):
        if opts.HasField(seconds) and not math.isfinite(getattr(opts, seconds)):
            # NaN compares false with everything: it would pass the checks below and poison
            # the dispatcher's time-ordered heaps.
            out.append((f"{opath}.{seconds}", f"{seconds} must be a finite number of seconds"))
    if opts.HasField("countdown") and opts.countdown < 0:
        out.append((f"{opath}.countdown", "countdown must not be negative"))
    if opts.HasField("priority") and not 0 <= opts.priority <= 9:
        out.append((f"{opath}.priority", "priority must be between 0 and 9"))
    for name in ("time_limit", "soft_time_limit", "expires"):
        if opts.HasField(name) and getattr(opts, name) <= 0:
            out.append((f"{opath}.{name}", f"{name} must be positive"))
    for i, link in enumerate(opts.link):
        out += validate(link, f"{opath}.link[{i}]", depth + 1, pickle=pickle)
    for i, link in enumerate(opts.link_error):
        out += validate(link, f"{opath}.link_error[{i}]", depth + 1, pickle=pickle)
    if kind == "signature":
        out += _validate_signature(node.signature, f"{path}.signature", pickle)
    elif kind == "chain":
        if not node.chain.tasks:
            out.append((f"{path}.chain.tasks", "a chain needs at least one task"))
        for i, child in enumerate(node.chain.tasks):
            out += validate(child, f"{path}.chain.tasks[{i}]", depth + 1, pickle=pickle)
    elif kind == "group":
        for i, child in enumerate(node.group.tasks):
            out += validate(child, f"{path}.group.tasks[{i}]", depth + 1, pickle=pickle)
    elif kind == "chord":
        if not node.chord.HasField("body") or kind_of(node.chord.body) is None:
            out.append((f"{path}.chord.body", "a chord needs a body (a signature or canvas)"))
        else:
            out += validate(node.chord.body, f"{path}.chord.body", depth + 1, pickle=pickle)
        for i, child in enumerate(node.chord.header):
            out += validate(child, f"{path}.chord.header[{i}]", depth + 1, pickle=pickle)
    elif kind in ("map", "chunks"):
        body = node.map if kind == "map" else node.chunks
        out += _validate_signature(body.task, f"{path}.{kind}.task", pickle)
        out += _validate_payload(body.items, f"{path}.{kind}.items", list, pickle)
        if kind == "chunks" and node.chunks.size < 1:
            out.append((f"{path}.chunks.size", "chunk size must be at least 1"))
    return out


def _validate_signature(sig: canvas_pb2.Signature, path: str, pickle: bool) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if not sig.task:
        out.append((f"{path}.task", "a signature needs a task name"))
    out += _validate_payload(sig.args, f"{path}.args", list, pickle)
    out += _validate_payload(sig.kwargs, f"{path}.kwargs", dict, pickle)
    return out


PICKLE_REFUSED = (
    "holds pickled values, which this scheduler does not accept "
    "(a deployment opts in with --accept-content json,pickle on the scheduler and accept_content on its apps)"
)
"""Why a payload with pickled values is refused by a scheduler that did not opt in."""


def holds_pickle(data: bytes) -> bool:
    """Whether JSON payload bytes hold a pickled value (``{"__type__": "pickle", ...}``), at any
    depth. The scheduler never unpickles: it only looks for the tag."""
    if b"pickle" not in data:  # the common case costs one scan of the bytes
        return False
    found = False

    def hook(obj: dict[str, object]) -> dict[str, object]:
        nonlocal found
        found = found or (obj.keys() == {"__type__", "__value__"} and obj["__type__"] == payloads.PICKLE)
        return obj

    try:
        json.loads(data, object_hook=hook)
    except ValueError:
        return False
    return found


def _validate_payload(payload: common_pb2.Payload, path: str, kind: type, pickle: bool) -> list[tuple[str, str]]:
    if len(payload.data) > MAX_PAYLOAD_BYTES:
        return [(path, f"payload of {len(payload.data)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit")]
    if payload.encoding not in ("", "json"):
        # The scheduler decodes args when it prepends a received value (a chord body, a chain
        # step): an encoding it cannot read would fail there, long after the submission.
        return [(path, f"encoding {payload.encoding!r} is not supported (only 'json')")]
    if payload.data:
        try:
            value = json.loads(payload.data)
        except ValueError as exc:
            return [(path, f"not valid JSON: {exc}")]
        if not isinstance(value, kind):
            return [(path, f"must be a JSON {'list' if kind is list else 'object'}")]
        if not pickle and holds_pickle(payload.data):
            return [(path, PICKLE_REFUSED)]
    return []
