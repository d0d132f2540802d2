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

Pickle, for Python-only deployments that opt in: with the serializer ``pickle`` each top-level
value (each argument, each keyword argument's value, a result, each item of a map) is pickled
on its own and carried as ``{"__type__": "pickle", "__value__": "<base64>"}`` inside the same
JSON payload, so the scheduler can still put a parent's result in front of a child's
arguments, or a chord's results in a list, without ever unpickling anything. Decoding such a
value needs ``pickle`` in ``accept``, else :class:`~motet.exceptions.ContentDisallowed`; and a
scheduler refuses them unless started with ``--accept-content json,pickle``.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import pickle
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from motet.exceptions import ContentDisallowed, EncodeError
from motet.settings import MAX_PAYLOAD_BYTES
from motet.v1 import common_pb2

__all__ = [
    "JSON",
    "JSON_ONLY",
    "MAX_PAYLOAD_BYTES",
    "PICKLE",
    "SERIALIZERS",
    "accepted",
    "decode",
    "encode",
    "encode_args",
    "encode_items",
    "encode_kwargs",
    "plain",
]

JSON = "json"
"""The default encoding name."""

PICKLE = "pickle"
"""The serializer of Python-only deployments that opt in (values tagged inside the JSON)."""

SERIALIZERS = (JSON, PICKLE)
"""What a serializer may be."""

JSON_ONLY = frozenset({JSON})
"""What a process accepts unless it opts in to pickle."""

_CONTENT_TYPES = {"application/json": JSON, "application/x-python-serialize": PICKLE}
"""Celery's content types for the same serializers (``accept_content`` takes either)."""

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


def accepted(content: Sequence[str] | None) -> frozenset[str]:
    """The serializers named by Celery's ``accept_content`` (names or content types).

    Raises:
        EncodeError: a name that is neither ``json`` nor ``pickle`` (nor their content types).
    """
    out = set()
    for name in content or (JSON,):
        kind = _CONTENT_TYPES.get(name, name)
        if kind not in SERIALIZERS:
            raise EncodeError(f"accept_content: {name!r} is not a serializer Motet has (json, pickle)")
        out.add(kind)
    return frozenset(out)


def _pickled(value: Any, what: str) -> dict[str, Any]:
    try:
        raw = pickle.dumps(value, protocol=pickle.DEFAULT_PROTOCOL)
    except Exception as err:  # noqa: BLE001 - pickle raises anything the value's __reduce__ does
        raise EncodeError(f"{what}: a {type(value).__name__} cannot be pickled: {err}") from None
    return _tagged(PICKLE, base64.b64encode(raw).decode("ascii"))


def _value(value: Any, what: str, serializer: str) -> Any:
    """One top-level value as JSON data: itself (``json``) or its pickle tag (``pickle``)."""
    if serializer == JSON:
        return plain(value, what)
    if serializer == PICKLE:
        return _pickled(value, what)
    raise EncodeError(f"{what}: serializer {serializer!r} is not one Motet has (json, or pickle where opted in)")


def _object_hook(obj: dict[str, Any], accept: frozenset[str] = JSON_ONLY) -> Any:
    if obj.keys() != {_TYPE, _VALUE}:
        return obj
    if obj[_TYPE] == PICKLE:
        if PICKLE not in accept:
            raise ContentDisallowed(
                "refusing to unpickle a value: this process does not accept pickle "
                '(opt in with app.conf.accept_content = ["json", "pickle"] where every sender is trusted)'
            )
        try:
            return pickle.loads(base64.b64decode(obj[_VALUE].encode("ascii"), validate=True))  # noqa: S301 - opted in
        except Exception as err:  # noqa: BLE001 - unpickling raises whatever the data makes it
            raise EncodeError(f"payload holds a pickled value that cannot be unpickled: {err!r}") from None
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


def encode(value: Any, *, what: str = "value", serializer: str = JSON) -> common_pb2.Payload:
    """Encodes a value as a JSON payload.

    Args:
        value: Plain JSON data (see the module docstring), or anything picklable when
            ``serializer`` is ``pickle``.
        what: What the value is, named in any error ("task proj.add return value").
        serializer: ``json`` or ``pickle``.

    Returns:
        A `motet.v1.Payload` with encoding "json".

    Raises:
        EncodeError: if the value is not JSON data (or cannot be pickled), or is larger than
            MAX_PAYLOAD_BYTES.
    """
    return _pack(_value(value, what, serializer), what)


def encode_args(args: Sequence[Any], *, task: str, serializer: str = JSON) -> common_pb2.Payload:
    """Encodes a task's positional arguments; an error names the argument ("task t argument 1").

    Args:
        args: The positional arguments (index 0 is "argument 0").
        task: The task name, for error messages.
        serializer: ``json`` or ``pickle`` (each argument pickled on its own).

    Returns:
        A JSON list payload.
    """
    return _pack(
        [_value(a, f"task {task} argument {i}", serializer) for i, a in enumerate(args)], f"task {task} arguments"
    )


def encode_kwargs(kwargs: Mapping[str, Any], *, task: str, serializer: str = JSON) -> common_pb2.Payload:
    """Encodes a task's keyword arguments; an error names the keyword ("task t keyword 'x'").

    Args:
        kwargs: The keyword arguments.
        task: The task name, for error messages.
        serializer: ``json`` or ``pickle`` (each value pickled on its own).

    Returns:
        A JSON object payload.
    """
    out = {}
    for key, value in kwargs.items():
        if not isinstance(key, str):
            raise EncodeError(f"task {task}: keyword {key!r} is not a string")
        out[key] = _value(value, f"task {task} keyword {key!r}", serializer)
    return _pack(out, f"task {task} keyword arguments")


def encode_items(items: Sequence[Any], *, what: str, star: bool, serializer: str = JSON) -> common_pb2.Payload:
    """Encodes the items of a map (``star``: of a starmap or chunks, each item an argument list).

    With ``pickle``, each item (``star``: each argument of an item) is pickled on its own, so the
    scheduler can still cut the list into chunks.
    """
    if serializer == JSON:
        return encode(items, what=what)
    if star:
        rows = [
            [_value(a, f"{what}[{i}][{j}]", serializer) for j, a in enumerate(item)] for i, item in enumerate(items)
        ]
        return _pack(rows, what)
    return _pack([_value(item, f"{what}[{i}]", serializer) for i, item in enumerate(items)], what)


def decode(payload: common_pb2.Payload, default: Any = None, *, accept: frozenset[str] = JSON_ONLY) -> Any:
    """Decodes a payload.

    Args:
        payload: A `motet.v1.Payload`.
        default: What an empty payload decodes to.
        accept: The serializers this process accepts (`accepted`): pickled values are
            unpickled only when it holds ``pickle``.

    Returns:
        The decoded value: JSON data, with kombu's tagged objects turned back into datetime,
        date, time, Decimal, UUID and bytes values (and pickled values into theirs).

    Raises:
        ContentDisallowed: the payload holds a pickled value and ``accept`` lacks ``pickle``.
        EncodeError: if the payload uses an encoding this SDK does not read, is not valid JSON,
            or holds a tagged value of an unknown type.
    """
    if not payload.data:
        return default
    if payload.encoding not in ("", JSON):
        raise EncodeError(f"payload encoding {payload.encoding!r} is not supported by this SDK (only 'json')")
    hook = _object_hook if accept == JSON_ONLY else partial(_object_hook, accept=accept)
    try:
        return json.loads(payload.data, object_hook=hook)
    except EncodeError:
        raise
    except ValueError as err:
        raise EncodeError(f"payload is not valid JSON: {err}") from None
