"""The corpus registry: `@program(...)` registers a canvas program; `Differs` declares a
deliberate difference (docs/celery-differences.md, "The ten deliberate differences").

Program modules (``programs_*.py``) import only this module: they run in both the Celery venv
and the project's venv, so they must not import Celery, Motet or pytest.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MODULES = [
    "tests.conformance.programs_signatures",
    "tests.conformance.programs_chain",
    "tests.conformance.programs_group",
    "tests.conformance.programs_chord",
    "tests.conformance.programs_map",
    "tests.conformance.programs_results",
    "tests.conformance.programs_compose",
    "tests.conformance.programs_callbacks",
    "tests.conformance.programs_errors",
    "tests.conformance.programs_options",
]

DEFAULT_TIMEOUT = 30.0  # seconds a program's get() waits by default: a loaded CI machine is slow, a hang has its own


@dataclass(frozen=True)
class Differs:
    """A deliberate difference: the observation keys where Motet is meant to differ.

    `celery` holds what real Celery 5.7 answers for those keys (asserted on every run, so the
    declaration cannot go stale); `motet` what docs/celery-differences.md say Motet
    answers. Every other key must still be equal on both systems.
    """

    design: int  # the number in docs/celery-differences.md's list
    why: str
    celery: dict[str, Any]
    motet: dict[str, Any]


@dataclass(frozen=True)
class Program:
    name: str
    fn: Callable[[Any], dict[str, Any]]
    section: str  # CELERY-SEMANTICS.md section, e.g. "2.4"
    module: str
    timeout: float = DEFAULT_TIMEOUT
    differs: Differs | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    known: str | None = None  # a mismatch not fixed yet, and why: the test is an expected failure

    @property
    def deadline(self) -> float:
        """How long the whole program may take before it is observed as a HANG."""
        return max(20.0, 3 * self.timeout + 10)


_PROGRAMS: dict[str, Program] = {}


def program(
    section: str, *, timeout: float = DEFAULT_TIMEOUT, differs: Differs | None = None, known: str | None = None
) -> Callable[[Callable[[Any], dict[str, Any]]], Callable[[Any], dict[str, Any]]]:
    """Registers a program under its function name (names are unique across the corpus).

    `known` marks a mismatch that is not fixed yet, with the reason: the test then reports an
    expected failure while Motet still differs, and fails once it matches (drop the mark).
    """

    def register(fn: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
        if fn.__name__ in _PROGRAMS:
            raise ValueError(f"duplicate conformance program name {fn.__name__}")
        _PROGRAMS[fn.__name__] = Program(fn.__name__, fn, section, fn.__module__, timeout, differs, known=known)
        return fn

    return register


def load() -> dict[str, Program]:
    """Every program of the corpus, in file order then definition order."""
    for module in MODULES:
        importlib.import_module(module)
    return dict(_PROGRAMS)
