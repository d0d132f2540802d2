"""Bad canvases are refused where they are built, with the error type and a message that helps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from motet import Signature, chain, chord, chunks, group, xstarmap
from motet.canvas import MAX_DEPTH
from motet.exceptions import CanvasError
from tests.unit.tasks import add, xsum


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: chord([add.s(1, 1)], 42), "chord body must be a signature or canvas, got int"),
        (lambda: add.s(1, 1).set(countdown=-1), "task tests.unit.tasks.add: countdown must not be negative"),
        (lambda: add.signature((1, 1), frobnicate=True), r"unknown option\(s\) \['frobnicate'\]"),
        (lambda: add.chunks([(1, 1)], 0), "chunk size must be a whole number of at least 1"),
        (lambda: chunks(add.s(), [(1, 1)], 1.5), "chunk size"),
        (lambda: chain().freeze(), "a chain needs at least one task"),
        (lambda: chain().to_proto(), "a chain needs at least one task"),
        (lambda: add.s(1, 1).set(priority=42), "priority must be between 0 and 9"),
        (lambda: add.s(1, 1).set(countdown=float("nan")), "countdown must be a finite number of seconds"),
        (lambda: add.s(1).set(time_limit=float("inf")), "time_limit must be a finite number of seconds"),
        (lambda: add.s(1).set(time_limit=0), "time_limit must be positive"),
        (lambda: add.s(1).set(eta=5), "eta must be a datetime"),
        (lambda: add.s(1).set(eta="tomorrow"), "not an ISO 8601"),
        (lambda: add.s(1).set(expires=-1), "expires must be positive"),
        (lambda: add.s(1).set(max_retries=-2), "max_retries must be a whole number"),
        (lambda: add.s(1).set(queue=3), "queue must be a string"),
        (lambda: add.s(1).set(link=[42]), "link takes signatures"),
        (lambda: group(add.s(1), 7), "a group takes signatures or canvases, got int"),
        (lambda: group("add"), "a group takes an iterable of items, got str"),
        (lambda: chain(add.s(1), None), "a chain takes signatures or canvases"),
        (lambda: add.signature("12"), "args must be a list or tuple"),
        (lambda: add.signature((1,), [("a", 1)]), "kwargs must be a dict"),
        (lambda: xstarmap(add.s(), [1, 2]), "item 0 must be a list of arguments"),
        (lambda: add.chunks([1, 2], 1), "item 0 must be a list of arguments"),
        (lambda: Signature(42), "a signature needs a task or a task name"),
        (lambda: chord([add.s(1)]).to_proto(), "no body yet"),
        (lambda: add.map([1]).delay(2), "takes no partial arguments"),
    ],
)
def test_bad_canvases_are_refused_with_a_clear_message(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(CanvasError, match=message):
        build()


def test_celery_options_are_accepted_and_carried() -> None:
    s = add.s(1, 1).set(routing_key="x", exchange="y", headers={"a": 1}, chord=None)
    assert s.options == {"routing_key": "x", "exchange": "y", "headers": {"a": 1}}
    proto = s.to_proto()
    assert proto.signature.options.extra.data
    assert add.signature((1,), producer=object(), add_to_parent=False).options == {"add_to_parent": False}


def test_option_values_are_normalised() -> None:
    s = add.s(1).set(eta="2030-01-02T03:04:05+00:00", expires=dt.datetime(2030, 1, 1), link=xsum.s(), countdown=None)
    assert s.options["eta"] == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert s.options["link"] == [xsum.s()] and "countdown" not in s.options
    proto = s.to_proto().signature.options
    assert proto.HasField("eta") and proto.HasField("expires_at") and not proto.HasField("expires")


def test_options_mutated_after_building_are_still_checked_when_compiling() -> None:
    s = add.s(1)
    s.options["countdown"] = -5
    with pytest.raises(CanvasError, match="countdown must not be negative"):
        s.to_proto()


def test_nesting_beyond_the_limit_is_refused() -> None:
    c: Any = add.s(1, 1)
    for _ in range(MAX_DEPTH + 1):
        c = group(c, add.s(2, 2))
    with pytest.raises(CanvasError, match=f"nested deeper than {MAX_DEPTH} levels"):
        c.to_proto()


def test_nesting_up_to_the_limit_is_accepted() -> None:
    c: Any = add.s(1, 1)
    for _ in range(MAX_DEPTH):
        c = group(c, add.s(2, 2))
    assert c.to_proto().WhichOneof("kind") == "group"


def test_task_options_are_checked() -> None:
    from tests.unit.tasks import app

    with pytest.raises(CanvasError, match="unknown task option"):
        app.task(lambda: None, frobnicate=True)
