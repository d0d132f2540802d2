"""Compilation: canvas objects <-> `motet.v1.Canvas` messages, and option rules.

`Signature.to_proto()` (on every canvas object) and `from_proto()` are inverse: for any canvas
`c`, `from_proto(c.to_proto()).to_proto() == c.to_proto()`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from google.protobuf import timestamp_pb2

from motet import payload
from motet.exceptions import CanvasError
from motet.v1 import canvas_pb2

if TYPE_CHECKING:
    from motet.canvas import Signature

__all__ = ["check_options", "from_proto", "options_proto"]

# Options Motet understands; anything else is refused at build time.
_OPTIONS = {
    "task_id", "countdown", "eta", "expires", "retries", "max_retries", "queue", "priority",
    "time_limit", "soft_time_limit", "immutable", "ignore_result", "link", "link_error",
    "group_id", "group_index", "root_id", "parent_id",
}
# Celery options accepted for compatibility and carried (uninterpreted) in Options.extra.
_CARRIED = {"routing_key", "exchange", "serializer", "headers", "shadow", "retry", "retry_policy", "reply_to", "add_to_parent", "compression"}


def check_options(options: dict[str, Any], where: str) -> None:
    """Normalises link / link_error to lists and refuses unknown or out-of-range options."""
    from motet.canvas import Signature

    for key in ("link", "link_error"):
        # Celery accepts one signature or a list of them.
        if isinstance(options.get(key), Signature):
            options[key] = [options[key]]
        elif key in options and options[key] is not None and not isinstance(options[key], list):
            options[key] = list(options[key])
    unknown = set(options) - _OPTIONS - _CARRIED
    if unknown:
        raise CanvasError(f"{where}: unknown option(s) {sorted(unknown)}; known options are {sorted(_OPTIONS)}")
    countdown = options.get("countdown")
    if countdown is not None and countdown < 0:
        raise CanvasError(f"{where}: countdown must not be negative (got {countdown})")
    priority = options.get("priority")
    if priority is not None and not 0 <= priority <= 9:
        raise CanvasError(f"{where}: priority must be between 0 and 9 (got {priority})")


def _timestamp(value: Any, where: str) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        ts.FromDatetime(value)
    elif isinstance(value, (int, float)):
        ts.FromNanoseconds(int(value * 1e9))
    else:
        raise CanvasError(f"{where}: expected a datetime, got {type(value).__name__}")
    return ts


def options_proto(options: dict[str, Any], immutable: bool, depth: int, where: str) -> canvas_pb2.Options:
    check_options(options, where)
    out = canvas_pb2.Options(immutable=immutable)
    for key in ("task_id", "queue", "group_id", "root_id", "parent_id"):
        if options.get(key):
            setattr(out, key, options[key])
    for key in ("countdown", "time_limit", "soft_time_limit"):
        if options.get(key) is not None:
            setattr(out, key, float(options[key]))
    for key in ("max_retries", "priority", "group_index"):
        if options.get(key) is not None:
            setattr(out, key, int(options[key]))
    if options.get("retries"):
        out.retries = int(options["retries"])
    if options.get("ignore_result"):
        out.ignore_result = True
    if options.get("eta") is not None:
        out.eta.CopyFrom(_timestamp(options["eta"], f"{where} eta"))
    expires = options.get("expires")
    if isinstance(expires, dt.datetime):
        out.expires_at.CopyFrom(_timestamp(expires, f"{where} expires"))
    elif expires is not None:
        if expires <= 0:
            raise CanvasError(f"{where}: expires must be positive seconds or a datetime (got {expires})")
        out.expires = float(expires)
    from motet.canvas import Signature

    for key in ("link", "link_error"):
        for sig in options.get(key, []):
            if not isinstance(sig, Signature):
                raise CanvasError(f"{where}: {key} must be signatures, got {type(sig).__name__}")
            getattr(out, key).append(sig.to_proto(depth + 1))
    carried = {k: v for k, v in options.items() if k in _CARRIED}
    if carried:
        out.extra.CopyFrom(payload.encode(carried, what=f"{where} options"))
    return out


def _options_from(opts: canvas_pb2.Options) -> tuple[dict[str, Any], bool]:
    out: dict[str, Any] = {}
    for key in ("task_id", "queue", "group_id", "root_id", "parent_id"):
        if getattr(opts, key):
            out[key] = getattr(opts, key)
    for key in ("countdown", "time_limit", "soft_time_limit", "max_retries", "priority", "group_index", "expires"):
        if opts.HasField(key):
            out[key] = getattr(opts, key)
    if opts.retries:
        out["retries"] = opts.retries
    if opts.ignore_result:
        out["ignore_result"] = True
    if opts.HasField("eta"):
        out["eta"] = opts.eta.ToDatetime(tzinfo=dt.timezone.utc)
    if opts.HasField("expires_at"):
        out["expires"] = opts.expires_at.ToDatetime(tzinfo=dt.timezone.utc)
    if opts.link:
        out["link"] = [from_proto(c) for c in opts.link]
    if opts.link_error:
        out["link_error"] = [from_proto(c) for c in opts.link_error]
    if opts.extra.data:
        out.update(payload.decode(opts.extra))
    return out, opts.immutable


def _sig_from(sig: canvas_pb2.Signature) -> Signature:
    from motet.canvas import Signature

    options, immutable = _options_from(sig.options)
    out = Signature(sig.task, tuple(payload.decode(sig.args, [])), payload.decode(sig.kwargs, {}), immutable=immutable)
    out.options = options
    return out


def from_proto(msg: canvas_pb2.Canvas) -> Signature:
    """The canvas object for a `motet.v1.Canvas` (the inverse of `.to_proto()`)."""
    from motet.canvas import chain, chord, chunks, group, xmap, xstarmap

    kind = msg.WhichOneof("kind")
    if kind == "signature":
        return _sig_from(msg.signature)
    if kind == "chain":
        options, _ = _options_from(msg.chain.options)
        c = chain(*[from_proto(t) for t in msg.chain.tasks])
        c.options = options
        return c
    if kind == "group":
        options, _ = _options_from(msg.group.options)
        g = group(*[from_proto(t) for t in msg.group.tasks])
        g.options = options
        return g
    if kind == "chord":
        options, _ = _options_from(msg.chord.options)
        ch = chord([from_proto(t) for t in msg.chord.header], from_proto(msg.chord.body))
        ch.options = options
        return ch
    if kind == "map":
        options, _ = _options_from(msg.map.options)
        cls = xstarmap if msg.map.starmap else xmap
        m = cls(_sig_from(msg.map.task), payload.decode(msg.map.items, []))
        m.options = options
        return m
    if kind == "chunks":
        options, _ = _options_from(msg.chunks.options)
        ck = chunks(_sig_from(msg.chunks.task), payload.decode(msg.chunks.items, []), msg.chunks.size)
        ck.options = options
        if msg.chunks.member_ids:
            ck._member_ids = list(msg.chunks.member_ids)
        return ck
    raise CanvasError("an empty canvas message: set one of signature, chain, group, chord, map, chunks")

