"""Values on the wire: JSON payloads, the encoding every language reads.

What JSON holds is accepted: None, bool, int, finite float, str, lists (tuples and ranges
become lists) and dicts with string keys. So are the types Celery's default serializer
(kombu's JSON) carries, in kombu's forms — an object ``{"__type__": T, "__value__": V}``:

=============  ==============  ==========================================
Python         ``__type__``    ``__value__``
=============  ==============  ==========================================
datetime       ``datetime``    ISO 8601 (``datetime.isoformat()``)
date           ``date``        ISO 8601 date
time           ``time``        ISO 8601 time
Decimal        ``decimal``     its string (``"1.10"``)
UUID           ``uuid``        ``{"hex": "<32 hex digits>"}``
bytes (UTF-8)  ``bytes``       the text
other bytes    ``base64``      base64 text
=============  ==============  ==========================================

and an object with a ``__json__()`` method is encoded as what that returns. Decoding turns
these objects back into the Python values. Anything else (sets, arbitrary objects, NaN) is
refused with an :class:`~motet.exceptions.EncodeError` that names what was being encoded,
e.g. ``task proj.add argument 1``. An encoded value over :data:`MAX_PAYLOAD_BYTES` is refused,
never truncated (the services answer RESOURCE_EXHAUSTED for the same reason).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from motet.exceptions import EncodeError
from motet.settings import MAX_PAYLOAD_BYTES
from motet.v1 import common_pb2

__all__ = ["JSON", "MAX_PAYLOAD_BYTES", "decode", "encode", "encode_args", "encode_kwargs", "plain"]

JSON = "json"
"""The default encoding name."""

_TYPE, _VALUE = "__type__", "__value__"


def _tagged(kind: str, value: Any) -> dict[str, Any]:
    return {_TYPE: kind, _VALUE: value}


def _bytes(value: bytes) -> dict[str, Any]:
    try:
        return _tagged("bytes", value.decode("utf-8"))
    except UnicodeDecodeError:
        return _tagged("base64", base64.b64encode(value).decode("ascii"))


# kombu's order matters: a datetime is also a date.
_ENCODERS: list[tuple[type, Callable[[Any], dict[str, Any]]]] = [
    (dt.datetime, lambda v: _tagged("datetime", v.isoformat())),
    (dt.date, lambda v: _tagged("date", v.isoformat())),
    (dt.time, lambda v: _tagged("time", v.isoformat())),
    (decimal.Decimal, lambda v: _tagged("decimal", str(v))),
    (uuid.UUID, lambda v: _tagged("uuid", {"hex": v.hex})),
    (bytes, _bytes),
]

_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": lambda v: dt.datetime.fromisoformat(v).date(),
    "time": dt.time.fromisoformat,
    "decimal": decimal.Decimal,
    "uuid": lambda v: uuid.UUID(**v),
    "bytes": lambda v: v.encode("utf-8"),
    "base64": lambda v: base64.b64decode(v.encode("ascii")),
}


def _object_hook(obj: dict[str, Any]) -> Any:
    if obj.keys() != {_TYPE, _VALUE}:
        return obj
    decoder = _DECODERS.get(obj[_TYPE])
    if decoder is None:
        raise EncodeError(f"payload holds a value of unknown type {obj[_TYPE]!r} (kombu JSON form)")
    try:
        return decoder(obj[_VALUE])
    except (TypeError, ValueError, decimal.InvalidOperation) as err:
        raise EncodeError(f"payload holds a malformed {obj[_TYPE]} value {obj[_VALUE]!r}: {err}") from None


def plain(value: Any, what: str) -> Any:
    """Returns `value` as plain JSON data (tuples and ranges become lists).

    Args:
        value: The value to check and convert.
        what: What the value is, for the error message ("task proj.add argument 1").

    Returns:
        The same data built only from None, bool, int, float, str, list and dict.

    Raises:
        EncodeError: if any part of the value cannot be represented in JSON.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise EncodeError(f"{what}: {value!r} cannot be encoded as JSON; pass a finite number or None")
        return value
    if isinstance(value, (list, tuple, range)):
        return [plain(v, f"{what}[{i}]") for i, v in enumerate(value)]
    for kind, encoder in _ENCODERS:
        if isinstance(value, kind):
            return encoder(value)
    reducer = getattr(value, "__json__", None)
    if callable(reducer):
        return plain(reducer(), what)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodeError(f"{what}: dict key {key!r} is not a string, which JSON requires")
            out[key] = plain(item, f"{what}[{key!r}]")
        return out
    raise EncodeError(
        f"{what}: a {type(value).__name__} cannot be encoded as JSON; pass lists, dicts with string keys, "
        "strings, numbers, booleans, None, or the datetime / date / time / Decimal / UUID / bytes values "
        "Celery's JSON carries"
    )


def _pack(data: Any, what: str) -> common_pb2.Payload:
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise EncodeError(
            f"{what}: {len(raw)} bytes encoded exceeds the {MAX_PAYLOAD_BYTES}-byte payload limit "
            "(resource exhausted); store large data elsewhere and pass a reference"
        )
    return common_pb2.Payload(encoding=JSON, data=raw)


def encode(value: Any, *, what: str = "value") -> common_pb2.Payload:
    """Encodes a value as a JSON payload.

    Args:
        value: Plain JSON data (see the module docstring).
        what: What the value is, named in any error ("task proj.add return value").

    Returns:
        A `motet.v1.Payload` with encoding "json".

    Raises:
        EncodeError: if the value is not JSON data or is larger than MAX_PAYLOAD_BYTES.
    """
    return _pack(plain(value, what), what)


def encode_args(args: Sequence[Any], *, task: str) -> common_pb2.Payload:
    """Encodes a task's positional arguments; an error names the argument ("task t argument 1").

    Args:
        args: The positional arguments (index 0 is "argument 0").
        task: The task name, for error messages.

    Returns:
        A JSON list payload.
    """
    return _pack([plain(a, f"task {task} argument {i}") for i, a in enumerate(args)], f"task {task} arguments")


def encode_kwargs(kwargs: Mapping[str, Any], *, task: str) -> common_pb2.Payload:
    """Encodes a task's keyword arguments; an error names the keyword ("task t keyword 'x'").

    Args:
        kwargs: The keyword arguments.
        task: The task name, for error messages.

    Returns:
        A JSON object payload.
    """
    out = {}
    for key, value in kwargs.items():
        if not isinstance(key, str):
            raise EncodeError(f"task {task}: keyword {key!r} is not a string")
        out[key] = plain(value, f"task {task} keyword {key!r}")
    return _pack(out, f"task {task} keyword arguments")


def decode(payload: common_pb2.Payload, default: Any = None) -> Any:
    """Decodes a payload.

    Args:
        payload: A `motet.v1.Payload`.
        default: What an empty payload decodes to.

    Returns:
        The decoded value: JSON data, with kombu's tagged objects turned back into datetime,
        date, time, Decimal, UUID and bytes values.

    Raises:
        EncodeError: if the payload uses an encoding this SDK does not read, is not valid JSON,
            or holds a tagged value of an unknown type.
    """
    if not payload.data:
        return default
    if payload.encoding not in ("", JSON):
        raise EncodeError(f"payload encoding {payload.encoding!r} is not supported by this SDK (only 'json')")
    try:
        return json.loads(payload.data, object_hook=_object_hook)
    except ValueError as err:
        raise EncodeError(f"payload is not valid JSON: {err}") from None
