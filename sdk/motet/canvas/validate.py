"""Build-time checks: option names and values, nesting depth, sizes.

Every check raises :class:`~motet.exceptions.CanvasError` with a message naming the part of
the canvas and what to do. The scheduler validates again (polyglot input is untrusted); these
checks exist so that a Python caller learns of a mistake where it was made.

Option names accepted on signatures and canvases:

- interpreted (fields of ``motet.v1.Options``): ``task_id``, ``countdown`` (seconds >= 0),
  ``eta`` (datetime or ISO 8601 string), ``expires`` (seconds > 0, or a datetime), ``retries``,
  ``max_retries``, ``queue``, ``priority`` (0-9), ``time_limit``, ``soft_time_limit``,
  ``immutable``, ``ignore_result``, ``link``, ``link_error``, ``group_id``, ``group_index``,
  ``root_id``, ``parent_id``;
- carried, not interpreted (Celery routing and message options, kept in ``Options.extra`` so
  code written for Celery runs unchanged): see :data:`CARRIED_OPTIONS`;
- dropped: ``chord`` (Celery's internal pointer from a header task to its body; in Motet the
  chord is part of the canvas structure).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from typing import Any

from motet.canvas import kinds
from motet.exceptions import CanvasError
from motet.settings import MAX_DEPTH

__all__ = [
    "CARRIED_OPTIONS",
    "DROPPED_OPTIONS",
    "MAX_DEPTH",
    "OPTIONS",
    "check_depth",
    "check_option_names",
    "check_option_values",
    "normalise_options",
]

OPTIONS = frozenset(
    {
        "task_id",
        "countdown",
        "eta",
        "expires",
        "retries",
        "max_retries",
        "queue",
        "priority",
        "time_limit",
        "soft_time_limit",
        "immutable",
        "ignore_result",
        "link",
        "link_error",
        "group_id",
        "group_index",
        "root_id",
        "parent_id",
    }
)
"""Options Motet interprets (the fields of `motet.v1.Options`, `expires` covering `expires_at`)."""

CARRIED_OPTIONS = frozenset(
    {
        "routing_key",
        "exchange",
        "exchange_type",
        "serializer",
        "headers",
        "shadow",
        "retry",
        "retry_policy",
        "reply_to",
        "add_to_parent",
        "compression",
        "delivery_mode",
        "mandatory",
        "correlation_id",
        "track_started",
        "stamped_headers",
        "stamps",
    }
)
"""Celery options accepted for compatibility and carried, uninterpreted, in `Options.extra`."""

DROPPED_OPTIONS = frozenset({"chord", "producer", "connection", "publisher", "router", "result_cls", "route_name"})
"""Celery-internal options (and apply_async's transport arguments) accepted and discarded."""


def check_option_names(options: dict[str, Any], where: str) -> None:
    """Refuses option names Motet does not know.

    Args:
        options: The options given.
        where: The part of the canvas, for the message ("task proj.add").

    Raises:
        CanvasError: naming the unknown options and the known ones.
    """
    unknown = set(options) - OPTIONS - CARRIED_OPTIONS - DROPPED_OPTIONS
    if unknown:
        raise CanvasError(
            f"{where}: unknown option(s) {sorted(unknown)}; Motet knows {sorted(OPTIONS)} "
            f"and carries Celery's {sorted(CARRIED_OPTIONS)}"
        )


def _number(options: dict[str, Any], key: str, where: str, *, minimum: float, strict: bool) -> None:
    value = options.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise CanvasError(f"{where}: {key} must be a finite number of seconds (got {value!r})")
    if value < minimum or (strict and value == minimum):
        rule = "be positive" if strict else "not be negative"
        raise CanvasError(f"{where}: {key} must {rule} (got {value})")


def _integer(options: dict[str, Any], key: str, where: str, low: int, high: int | None = None) -> None:
    value = options.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"between {low} and {high}" if high is not None else f"a whole number of at least {low}"
        raise CanvasError(f"{where}: {key} must be {span} (got {value!r})")


def _when(value: Any, key: str, where: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise CanvasError(f"{where}: {key} {value!r} is not an ISO 8601 date and time") from None
    if not isinstance(value, dt.datetime):
        raise CanvasError(f"{where}: {key} must be a datetime (got {type(value).__name__})")
    return value


def check_option_values(options: dict[str, Any], where: str) -> None:
    """Refuses option values out of range or of the wrong type.

    Args:
        options: Normalised options (see `normalise_options`).
        where: The part of the canvas, for the message.

    Raises:
        CanvasError: naming the option, the rule and the value given.
    """
    _number(options, "countdown", where, minimum=0, strict=False)
    _number(options, "time_limit", where, minimum=0, strict=True)
    _number(options, "soft_time_limit", where, minimum=0, strict=True)
    _integer(options, "priority", where, 0, 9)
    _integer(options, "retries", where, 0)
    _integer(options, "max_retries", where, 0)
    _integer(options, "group_index", where, 0)
    expires = options.get("expires")
    if expires is not None and not isinstance(expires, dt.datetime):
        _number(options, "expires", where, minimum=0, strict=True)
    if options.get("eta") is not None and not isinstance(options["eta"], dt.datetime):
        raise CanvasError(f"{where}: eta must be a datetime (got {type(options['eta']).__name__})")
    for key in ("task_id", "group_id", "root_id", "parent_id", "queue"):
        value = options.get(key)
        if value is not None and not isinstance(value, str):
            raise CanvasError(f"{where}: {key} must be a string (got {type(value).__name__})")
    signature = kinds.signature_type()
    for key in ("link", "link_error"):
        for sig in options.get(key) or ():
            if not isinstance(sig, signature):
                raise CanvasError(f"{where}: {key} takes signatures or canvases, got {type(sig).__name__}")


def normalise_options(options: dict[str, Any], where: str) -> dict[str, Any]:
    """Checks and normalises options given by a caller.

    None values are dropped, ``link`` / ``link_error`` become lists, ``eta`` / ``expires``
    given as ISO strings become datetimes, Celery-internal options are dropped.

    Args:
        options: The options as given (not modified).
        where: The part of the canvas, for messages.

    Returns:
        A new dict of valid options.

    Raises:
        CanvasError: for an unknown name or an invalid value.
    """
    check_option_names(options, where)
    out = {k: v for k, v in options.items() if v is not None and k not in DROPPED_OPTIONS}
    for key in ("link", "link_error"):
        # Celery accepts one signature or a list of them.
        if key in out:
            value = out[key]
            out[key] = [value] if isinstance(value, kinds.signature_type()) else list(value)
    for key in ("eta", "expires"):
        if isinstance(out.get(key), str):
            out[key] = _when(out[key], key, where)
    check_option_values(out, where)
    return out


def check_depth(depth: int) -> None:
    """Refuses a canvas nested deeper than MAX_DEPTH.

    Raises:
        CanvasError: when `depth` exceeds MAX_DEPTH.
    """
    if depth > MAX_DEPTH:
        raise CanvasError(
            f"the canvas is nested deeper than {MAX_DEPTH} levels; flatten it (a long chain is one level)"
        )
