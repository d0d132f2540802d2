"""Values on the wire: JSON payloads (the default every language reads)."""

from __future__ import annotations

import json
import math
from typing import Any

from motet.exceptions import EncodeError
from motet.v1 import common_pb2

__all__ = ["MAX_PAYLOAD_BYTES", "decode", "encode", "plain"]

MAX_PAYLOAD_BYTES = 1 << 20
"""The largest encoded value accepted (1 MiB); larger values are refused, never truncated."""


def plain(value: Any, what: str) -> Any:
    """Returns `value` as plain JSON data (tuples and iterators become lists) or raises EncodeError."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise EncodeError(f"{what}: {value!r} cannot be encoded as JSON")
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
        f"{what}: a {type(value).__name__} cannot be encoded as JSON; pass lists, dicts, strings, numbers, booleans or None"
    )


def encode(value: Any, *, what: str = "value") -> common_pb2.Payload:
    """Encodes a value as a JSON payload, naming `what` in any error."""
    data = json.dumps(plain(value, what), separators=(",", ":")).encode()
    if len(data) > MAX_PAYLOAD_BYTES:
        raise EncodeError(f"{what}: {len(data)} bytes encoded exceeds the {MAX_PAYLOAD_BYTES}-byte payload limit")
    return common_pb2.Payload(encoding="json", data=data)


def decode(payload: common_pb2.Payload, default: Any = None) -> Any:
    """Decodes a payload (an empty one gives `default`)."""
    if not payload.data:
        return default
    if payload.encoding not in ("", "json"):
        raise EncodeError(f"payload encoding {payload.encoding!r} is not supported by this SDK")
    return json.loads(payload.data)
