"""The canvas: signatures and the primitives that compose them, with Celery's rules.

One module per idea, imported one way (each module imports only those above it here):

- `kinds`: the registry through which the rules below find the canvas classes;
- `validate`: build-time checks of options, depth and sizes;
- `compose` (the `|` rules), `freeze` (ids and result objects), `compile` (to / from
  `motet.v1` protobuf, both directions side by side);
- `signature`: one task invocation and the calling API;
- `composite`, `group`, `chain`, `chord`, `mapping` (xmap / xstarmap / chunks): the kinds.

Importing this package registers every kind.
"""

from motet.canvas.chain import chain
from motet.canvas.chord import chord
from motet.canvas.compile import from_proto, to_proto
from motet.canvas.group import group
from motet.canvas.mapping import chunks, xmap, xstarmap
from motet.canvas.signature import Signature, maybe_signature, signature
from motet.settings import MAX_DEPTH

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
    "to_proto",
    "xmap",
    "xstarmap",
]
