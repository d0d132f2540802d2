"""Values on the wire: JSON payloads, the encoding every language reads.

Only what JSON holds is accepted: None, bool, int, finite float, str, lists (tuples and ranges
become lists) and dicts with string keys. Anything else (sets, bytes, arbitrary objects, NaN)
is refused with an :class:`~motet.exceptions.EncodeError` that names what was being encoded,
e.g. ``task proj.add argument 1``. An encoded value over :data:`MAX_PAYLOAD_BYTES` is refused,
never truncated (the services answer RESOURCE_EXHAUSTED for the same reason).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from motet.exceptions import EncodeError
from motet.settings import MAX_PAYLOAD_BYTES
from motet.v1 import common_pb2

__all__ = ["JSON", "MAX_PAYLOAD_BYTES", "decode", "encode", "encode_args", "encode_kwargs", "plain"]

JSON = "json"
"""The default encoding name."""


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
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodeError(f"{what}: dict key {key!r} is not a string, which JSON requires")
            out[key] = plain(item, f"{what}[{key!r}]")
        return out
    raise EncodeError(
        f"{what}: a {type(value).__name__} cannot be encoded as JSON; "
        "pass lists, dicts with string keys, strings, numbers, booleans or None"
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
        The decoded value (JSON data).

    Raises:
        EncodeError: if the payload uses an encoding this SDK does not read, or is not valid JSON.
    """
    if not payload.data:
        return default
    if payload.encoding not in ("", JSON):
        raise EncodeError(f"payload encoding {payload.encoding!r} is not supported by this SDK (only 'json')")
    try:
        return json.loads(payload.data)
    except ValueError as err:
        raise EncodeError(f"payload is not valid JSON: {err}") from None
