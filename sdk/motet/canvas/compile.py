"""Compile: canvas objects <-> `motet.v1.Canvas` messages, each pair side by side.

`to_proto(c)` and `from_proto(m)` are inverse: for every canvas `c`,
``from_proto(to_proto(c))`` compiles back to the same message. Compiling does not modify the
canvas. A chain step that is a group followed by another step is compiled as a chord (Celery's
rule when a chain runs). Option names are not re-checked here (a message from another language
may carry extra options, which survive the round trip in `Options.extra`); option values are.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from google.protobuf import timestamp_pb2

from motet import payload
from motet.canvas import kinds
from motet.canvas.compose import upgrade_steps
from motet.canvas.validate import OPTIONS, check_depth, check_option_values
from motet.exceptions import CanvasError
from motet.state import current_app
from motet.v1 import canvas_pb2

if TYPE_CHECKING:
    from motet.canvas.chain import chain
    from motet.canvas.chord import chord
    from motet.canvas.group import group
    from motet.canvas.mapping import MapBase, chunks
    from motet.canvas.signature import Signature

__all__ = ["from_proto", "options_from_proto", "options_to_proto", "to_proto"]

_STRINGS = ("task_id", "queue", "group_id", "root_id", "parent_id")
_OptionalField = Literal[
    "countdown", "time_limit", "soft_time_limit", "max_retries", "priority", "group_index", "expires"
]
_FLOATS: tuple[_OptionalField, ...] = ("countdown", "time_limit", "soft_time_limit")
_INTS: tuple[_OptionalField, ...] = ("max_retries", "priority", "group_index")


# -- timestamps ---------------------------------------------------------------------------


def _timestamp_to_proto(value: dt.datetime) -> timestamp_pb2.Timestamp:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # naive datetimes are UTC, as in Celery
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def _timestamp_from_proto(ts: timestamp_pb2.Timestamp) -> dt.datetime:
    value: dt.datetime = ts.ToDatetime(tzinfo=dt.UTC)
    return value


# -- options ------------------------------------------------------------------------------


def options_to_proto(options: dict[str, Any], immutable: bool, depth: int, where: str) -> canvas_pb2.Options:
    """Options dict (+ the signature's immutability) -> `motet.v1.Options`.

    Raises:
        CanvasError: for an invalid value; EncodeError for carried options JSON cannot hold.
    """
    check_option_values(options, where)
    out = canvas_pb2.Options(immutable=immutable)
    for key in _STRINGS:
        if options.get(key):
            setattr(out, key, options[key])
    for key in _FLOATS:
        if options.get(key) is not None:
            setattr(out, key, float(options[key]))
    for key in _INTS:
        if options.get(key) is not None:
            setattr(out, key, int(options[key]))
    if options.get("retries"):
        out.retries = int(options["retries"])
    if options.get("ignore_result"):
        out.ignore_result = True
    if options.get("eta") is not None:
        out.eta.CopyFrom(_timestamp_to_proto(options["eta"]))
    expires = options.get("expires")
    if isinstance(expires, dt.datetime):
        out.expires_at.CopyFrom(_timestamp_to_proto(expires))
    elif expires is not None:
        out.expires = float(expires)
    for key in ("link", "link_error"):
        for sig in options.get(key) or ():
            getattr(out, key).append(to_proto(sig, depth + 1))
    extra = {k: v for k, v in options.items() if k not in OPTIONS}
    if extra:
        out.extra.CopyFrom(payload.encode(extra, what=f"{where} options"))
    return out


def options_from_proto(msg: canvas_pb2.Options) -> tuple[dict[str, Any], bool]:
    """`motet.v1.Options` -> (options dict, immutable). `expires_at` becomes a datetime `expires`."""
    out: dict[str, Any] = {}
    for key in _STRINGS:
        if getattr(msg, key):
            out[key] = getattr(msg, key)
    optional: tuple[_OptionalField, ...] = (*_FLOATS, *_INTS, "expires")
    for key in optional:
        if msg.HasField(key):
            out[key] = getattr(msg, key)
    if msg.retries:
        out["retries"] = msg.retries
    if msg.ignore_result:
        out["ignore_result"] = True
    if msg.HasField("eta"):
        out["eta"] = _timestamp_from_proto(msg.eta)
    if msg.HasField("expires_at"):
        out["expires"] = _timestamp_from_proto(msg.expires_at)  # wins over relative `expires`
    if msg.link:
        out["link"] = [from_proto(c) for c in msg.link]
    if msg.link_error:
        out["link_error"] = [from_proto(c) for c in msg.link_error]
    if msg.extra.data:
        extra = payload.decode(msg.extra, {})
        if isinstance(extra, dict):
            out.update({k: v for k, v in extra.items() if k not in OPTIONS})
    return out, msg.immutable


# -- signature ----------------------------------------------------------------------------


def _serializer(sig: Signature) -> str:
    """How a signature's arguments are encoded: its ``serializer`` option, else its task's, else
    the app's ``task_serializer`` (Celery's order)."""
    chosen = sig.options.get("serializer")
    if chosen:
        return str(chosen)
    task = sig.type if sig.task else None
    if task is not None and task.serializer:
        return task.serializer
    return str(sig._app().conf.get("task_serializer") or payload.JSON)


def _signature_to_proto(sig: Signature, depth: int) -> canvas_pb2.Signature:
    if not sig.task:
        raise CanvasError("a signature needs a task name")
    serializer = _serializer(sig)
    return canvas_pb2.Signature(
        task=sig.task,
        args=payload.encode_args(sig.args, task=sig.task, serializer=serializer),
        kwargs=payload.encode_kwargs(sig.kwargs, task=sig.task, serializer=serializer),
        options=options_to_proto(sig.options, sig.immutable, depth, f"task {sig.task}"),
    )


def _decode(msg: Any, default: Any) -> Any:
    """A payload of a canvas read back, unpickled only where the current app accepts pickle (a
    payload without the word holds no pickle tag: the app is not asked)."""
    accept = payload.JSON_ONLY
    if b"pickle" in msg.data:
        accept = payload.accepted(current_app().conf.get("accept_content"))
    return payload.decode(msg, default, accept=accept)


def _signature_from_proto(msg: canvas_pb2.Signature) -> Signature:
    options, immutable = options_from_proto(msg.options)
    args = _decode(msg.args, [])
    kwargs = _decode(msg.kwargs, {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise CanvasError(f"task {msg.task}: args must be a JSON list and kwargs a JSON object")
    sig = kinds.signature_type()(msg.task, args, kwargs, immutable=immutable)
    sig.options = options
    return sig


# -- composites ---------------------------------------------------------------------------


def _chain_to_proto(c: chain, depth: int) -> canvas_pb2.Chain:
    if not c.tasks:
        raise CanvasError("a chain needs at least one task")
    return canvas_pb2.Chain(
        tasks=[to_proto(t, depth + 1) for t in upgrade_steps(c.tasks)],
        options=options_to_proto(c.options, False, depth, "chain"),
    )


def _chain_from_proto(msg: canvas_pb2.Chain) -> chain:
    return kinds.chain_type()._build([from_proto(t) for t in msg.tasks], options_from_proto(msg.options)[0])


def _group_to_proto(g: group, depth: int) -> canvas_pb2.Group:
    return canvas_pb2.Group(
        tasks=[to_proto(t, depth + 1) for t in g.tasks], options=options_to_proto(g.options, False, depth, "group")
    )


def _group_from_proto(msg: canvas_pb2.Group) -> group:
    return kinds.group_type()._build([from_proto(t) for t in msg.tasks], options_from_proto(msg.options)[0])


def _chord_to_proto(c: chord, depth: int) -> canvas_pb2.Chord:
    return canvas_pb2.Chord(
        header=[to_proto(t, depth + 1) for t in c.tasks],
        body=to_proto(c.need_body(), depth + 1),
        options=options_to_proto(c.options, False, depth, "chord"),
    )


def _chord_from_proto(msg: canvas_pb2.Chord) -> chord:
    body = from_proto(msg.body) if msg.HasField("body") else None
    return kinds.chord_type()._build([from_proto(t) for t in msg.header], body, options_from_proto(msg.options)[0])


def _map_to_proto(m: MapBase, depth: int) -> canvas_pb2.Map:
    return canvas_pb2.Map(
        task=_signature_to_proto(m.mapped, depth + 1),
        items=payload.encode_items(m.it, what=f"{m._where()} items", star=m.starmap, serializer=_serializer(m.mapped)),
        starmap=m.starmap,
        options=options_to_proto(m.options, False, depth, m._where()),
    )


def _map_from_proto(msg: canvas_pb2.Map) -> MapBase:
    cls = kinds.xstarmap_type() if msg.starmap else kinds.xmap_type()
    items = _decode(msg.items, [])
    if not isinstance(items, list):
        raise CanvasError(f"map of task {msg.task.task}: items must be a JSON list")
    return cls._build(_signature_from_proto(msg.task), items, options_from_proto(msg.options)[0])


def _chunks_to_proto(ck: chunks, depth: int) -> canvas_pb2.Chunks:
    return canvas_pb2.Chunks(
        task=_signature_to_proto(ck.mapped, depth + 1),
        items=payload.encode_items(ck.it, what=f"{ck._where()} items", star=True, serializer=_serializer(ck.mapped)),
        size=ck.n,
        options=options_to_proto(ck.options, False, depth, ck._where()),
        member_ids=ck.member_ids,
    )


def _chunks_from_proto(msg: canvas_pb2.Chunks) -> chunks:
    items = _decode(msg.items, [])
    if not isinstance(items, list):
        raise CanvasError(f"chunks of task {msg.task.task}: items must be a JSON list")
    return kinds.chunks_type()._build(
        _signature_from_proto(msg.task), items, msg.size, options_from_proto(msg.options)[0], list(msg.member_ids)
    )


# -- the canvas ---------------------------------------------------------------------------


def to_proto(node: Signature, depth: int = 0) -> canvas_pb2.Canvas:
    """A canvas object as a `motet.v1.Canvas` (the node is not modified).

    Args:
        node: Any signature or canvas.
        depth: The nesting level of `node` (0 at the top).

    Raises:
        CanvasError: for an invalid canvas (empty chain, chord without body, too deep);
            EncodeError for values JSON cannot hold.
    """
    check_depth(depth)
    if isinstance(node, kinds.chain_type()):
        return canvas_pb2.Canvas(chain=_chain_to_proto(node, depth))
    if isinstance(node, kinds.chord_type()):
        return canvas_pb2.Canvas(chord=_chord_to_proto(node, depth))
    if isinstance(node, kinds.group_type()):
        return canvas_pb2.Canvas(group=_group_to_proto(node, depth))
    if isinstance(node, kinds.chunks_type()):
        return canvas_pb2.Canvas(chunks=_chunks_to_proto(node, depth))
    if isinstance(node, kinds.map_type()):
        return canvas_pb2.Canvas(map=_map_to_proto(node, depth))
    if isinstance(node, kinds.signature_type()):
        return canvas_pb2.Canvas(signature=_signature_to_proto(node, depth))
    raise CanvasError(f"cannot compile a {type(node).__name__}; expected a signature or canvas")


def from_proto(msg: canvas_pb2.Canvas) -> Signature:
    """The canvas object for a `motet.v1.Canvas` message (the inverse of `.to_proto()`).

    Raises:
        CanvasError: for a message with no node kind set, or malformed payloads.
    """
    kind = msg.WhichOneof("kind")
    if kind == "signature":
        return _signature_from_proto(msg.signature)
    if kind == "chain":
        return _chain_from_proto(msg.chain)
    if kind == "group":
        return _group_from_proto(msg.group)
    if kind == "chord":
        return _chord_from_proto(msg.chord)
    if kind == "map":
        return _map_from_proto(msg.map)
    if kind == "chunks":
        return _chunks_from_proto(msg.chunks)
    raise CanvasError("an empty canvas message: set one of signature, chain, group, chord, map, chunks")
