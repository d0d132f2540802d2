"""The canvas: signatures and the primitives that compose them, with Celery's rules.

One module per idea: `signature` (one task invocation and the calling API), `chain`,
`group`, `chord`, `mapping` (xmap / xstarmap / chunks), `compose` (the `|` rules),
`validate` (build-time checks), `freeze` (ids and result objects) and `compile`
(to / from `motet.v1` protobuf).
"""

from motet.canvas.chain import chain
from motet.canvas.chord import chord
from motet.canvas.compile import from_proto
from motet.canvas.group import group
from motet.canvas.mapping import chunks, xmap, xstarmap
from motet.canvas.signature import Signature, maybe_signature, signature
from motet.canvas.validate import MAX_DEPTH

__all__ = [
    "MAX_DEPTH",
    "Signature",
    "chain",
    "chord",
    "chunks",
    "from_proto",
    "group",
    "maybe_signature",
    "signature",
    "xmap",
    "xstarmap",
]
