"""The canvas kinds by name: Celery's `Signature.TYPES` registry, typed.

The `|` rules (`compose`), freezing (`freeze`) and compiling (`compile`) build and recognise
chains, groups and chords, and `Signature` calls them; the kinds themselves are subclasses of
`Signature`. So that imports run one way — rules below `Signature`, `Signature` below the
kinds — the rule modules find the classes here instead of importing them. Each kind registers
itself where it is defined (`@register("chain")`); `motet.canvas` imports every kind, so the
registry is complete before any canvas exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from motet.canvas.chain import chain
    from motet.canvas.chord import chord
    from motet.canvas.group import group
    from motet.canvas.mapping import MapBase, chunks, xmap, xstarmap
    from motet.canvas.signature import Signature

__all__ = [
    "by_name",
    "chain_type",
    "chord_type",
    "chunks_type",
    "group_type",
    "map_type",
    "register",
    "signature_type",
    "xmap_type",
    "xstarmap_type",
]

_T = TypeVar("_T", bound=type)
_TYPES: dict[str, type[Any]] = {}


def register(name: str) -> Callable[[_T], _T]:
    """Class decorator: records `cls` as the kind called `name` (Celery's `subtask_type`)."""

    def add(cls: _T) -> _T:
        _TYPES[name] = cls
        return cls

    return add


def by_name(name: str) -> type[Any] | None:
    """The class registered as `name` (a Celery `subtask_type`), or None."""
    return _TYPES.get(name)


def _get(name: str) -> type[Any]:
    try:
        return _TYPES[name]
    except KeyError:
        raise RuntimeError(f"canvas kind {name!r} is not registered; import motet.canvas first") from None


def signature_type() -> type[Signature]:
    """The `Signature` class."""
    return cast("type[Signature]", _get("signature"))


def chain_type() -> type[chain]:
    """The `chain` class."""
    return cast("type[chain]", _get("chain"))


def group_type() -> type[group]:
    """The `group` class."""
    return cast("type[group]", _get("group"))


def chord_type() -> type[chord]:
    """The `chord` class."""
    return cast("type[chord]", _get("chord"))


def chunks_type() -> type[chunks]:
    """The `chunks` class."""
    return cast("type[chunks]", _get("chunks"))


def map_type() -> type[MapBase]:
    """The common base of `xmap` and `xstarmap`."""
    return cast("type[MapBase]", _get("map"))


def xmap_type() -> type[xmap]:
    """The `xmap` class."""
    return cast("type[xmap]", _get("xmap"))


def xstarmap_type() -> type[xstarmap]:
    """The `xstarmap` class."""
    return cast("type[xstarmap]", _get("xstarmap"))
