"""The shared canvas corpus, built with the Python SDK: what another language's SDK must encode
byte for byte.

Each canvas is built, frozen with a predictable id generator (the k-th id freeze asks for in
canvas NAME is "NAME-k", so the order in which ids are assigned is checked too, not only where
they go) and serialized with `SerializeToString(deterministic=True)`. Prints a JSON list of
``{"name", "hex"}`` to stdout. The Node SDK describes the same canvases in
`sdk/node/test/corpus.js` and its test compares the bytes; keep the two lists in step.

Run: ``PYTHONPATH=sdk:services:. python tests/polyglot/corpus.py``
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sys
from collections.abc import Callable
from typing import Any

from motet.canvas import Signature, chain, chord, chunks, group, xmap, xstarmap
from motet.canvas import freeze as freeze_module

UTC = dt.UTC


def s(name: str, *args: Any, **kwargs: Any) -> Signature:
    """A signature of task `tasks.NAME` (Celery's `task.s(*args, **kwargs)`)."""
    return Signature(f"tasks.{name}", args, kwargs)


def si(name: str, *args: Any, **kwargs: Any) -> Signature:
    """An immutable signature (Celery's `task.si(...)`)."""
    return Signature(f"tasks.{name}", args, kwargs, immutable=True)


def _plain() -> Signature:
    return s("add", 2, 3, debug=True)


def _all_options() -> Signature:
    return Signature(
        "tasks.add",
        (1, 2),
        options={
            "task_id": "fixed-task-id",
            "countdown": 1.5,
            "eta": dt.datetime(2026, 12, 1, 21, 17, 20, 500000, tzinfo=UTC),
            "expires": 30.0,
            "queue": "fast",
            "priority": 7,
            "time_limit": 10,
            "soft_time_limit": 5.5,
            "max_retries": 2,
            "retries": 1,
            "ignore_result": True,
            "routing_key": "fast.add",
        },
    )


def _zero_options() -> Signature:
    # Set to zero: optional fields are present (countdown 0, priority 0), plain ones are not.
    return Signature("tasks.add", (), options={"countdown": 0, "priority": 0, "max_retries": 0, "retries": 0})


def _expires_at() -> Signature:
    return Signature("tasks.add", (1,), options={"expires": dt.datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)})


def _immutable() -> Signature:
    return si("add", 5, 5)


def _links() -> Signature:
    sig = s("add", 1, 1)
    sig.link(s("log_result"))
    sig.link(s("notify", "done"))
    sig.link_error(si("log_error", "oops"))
    return sig


def _chain() -> Any:
    return chain(s("add", 2, 2), s("add", 4), s("mul", 3))


def _nested_chain() -> Any:
    return chain(s("add", 1, 1), chain(s("add", 2), s("add", 3)), chain(s("mul", 2), s("add", 1), queue="slow"))


def _chain_options_links() -> Any:
    c = chain(s("add", 1, 1), s("mul", 2), countdown=2, priority=5)
    c.link(s("log_result"))
    c.link_error(s("log_error"))
    return c


def _chain_immutable_step() -> Any:
    return chain(s("add", 1, 1), si("add", 5, 5), s("mul", 2))


def _group() -> Any:
    return group(s("add", 1, 1), s("add", 2, 2), s("mul", 3, 3), queue="wide")


def _group_in_group() -> Any:
    return group(group(s("add", 1, 1), s("add", 2, 2), priority=3), s("mul", 3, 3))


def _group_with_link_in_group() -> Any:
    inner = group(s("add", 1, 1), s("add", 2, 2))
    inner.link(s("xsum"))
    return group(inner, s("mul", 3, 3))


def _chain_ending_in_group_in_group() -> Any:
    return group(chain(s("add", 1, 1), group(s("mul", 2), s("mul", 3))), s("add", 9, 9))


def _chord() -> Any:
    return chord([s("add", 1, 1), s("add", 2, 2)], s("xsum"))


def _chord_chain_body() -> Any:
    return chord([s("add", 1, 1), s("add", 2, 2)], chain(s("xsum"), s("mul", 10)))


def _chord_from_group_with_ids() -> Any:
    header = group(s("add", 1, 1), s("add", 2, 2), task_id="header-id", queue="q")
    return chord(header, s("xsum"), task_id="body-id", soft_time_limit=3)


def _chord_link() -> Any:
    c = chord([s("add", 1, 1), s("add", 2, 2)], s("xsum"))
    c.link(s("log_result"))
    c.link_error(s("on_chord_error"))
    return c


def _chain_ending_in_chord() -> Any:
    return chain(s("add", 1, 1), chord([s("add", 2), s("add", 3)], s("xsum")))


def _chain_group_then_task() -> Any:
    return chain(s("add", 2, 2), group(s("mul", 1), s("mul", 2)), s("xsum"), s("mul", 3))


def _chord_in_chord_header() -> Any:
    return chord([chord([s("add", 1, 1), s("add", 2, 2)], s("xsum")), s("add", 3, 3)], s("xsum"))


def _chain_of_two_chords() -> Any:
    return chain(chord([s("add", 1, 1), s("add", 2, 2)], s("xsum")), chord([s("add", 3), s("add", 4)], s("xsum")))


def _chain_of_two_groups() -> Any:
    return chain(group(s("add", 1, 1), s("add", 2, 2)), group(s("mul", 2), s("mul", 3)))


def _chain_one_member_group() -> Any:
    return chain(s("add", 1, 1), group(s("mul", 2)))


def _map_in_chain() -> Any:
    return chain(s("add", 1, 1), xmap(s("add", 1), [1, 2]))


def _map() -> Any:
    return xmap(s("add", 10), [1, 2, 3])


def _starmap() -> Any:
    return xstarmap(s("add"), [[1, 2], [3, 4], [5, 6]], queue="maps")


def _chunks() -> Any:
    return chunks(s("add"), [[i, i] for i in range(7)], 3)


def _chunks_then_body() -> Any:
    return chunks(s("add"), [[i, i] for i in range(4)], 2) | s("tsum")


def _unicode() -> Signature:
    text = 'quote " backslash \\ newline \n tab \t ctrl \x01 del \x7f'
    return s("identity", "héllo", "日本語", "emoji 🎉", text, **{"ключ": "значение", "é": ["ü", {"ß": "∑"}]})


def _numbers() -> Signature:
    return s(
        "identity",
        2**70,
        -(2**64),
        9007199254740993,
        1e16,
        9007199254740994.0,
        1.5e-7,
        0.1,
        1e300,
        -2.5e-310,
        123456789.123,
        1 / 3,
        0.0001,
        1e-5,
        -0.5,
        0,
        -17,
        True,
        None,
        [],
        {},
    )


def _some_ids_given() -> Any:
    # freeze computes a fresh id before it looks for an existing one (dict.setdefault): the id
    # it then drops still counts, so the ids after it are numbered one higher.
    first = Signature("tasks.add", (1, 1), task_id="given-first")
    return chain(
        first, chord([s("mul", 2), Signature("tasks.mul", (3,), task_id="given-member")], s("xsum")), s("add", 1)
    )


def _explicit_ids() -> Any:
    return chord(
        [Signature("tasks.add", (1, 1), task_id="m1"), Signature("tasks.add", (2, 2), task_id="m2")],
        Signature("tasks.xsum", task_id="the-body"),
        group_id="the-header",
    )


CORPUS: list[tuple[str, Callable[[], Any]]] = [
    ("plain", _plain),
    ("all_options", _all_options),
    ("zero_options", _zero_options),
    ("expires_at", _expires_at),
    ("immutable", _immutable),
    ("links", _links),
    ("chain", _chain),
    ("nested_chain", _nested_chain),
    ("chain_options_links", _chain_options_links),
    ("chain_immutable_step", _chain_immutable_step),
    ("group", _group),
    ("group_in_group", _group_in_group),
    ("group_with_link_in_group", _group_with_link_in_group),
    ("chain_ending_in_group_in_group", _chain_ending_in_group_in_group),
    ("chord", _chord),
    ("chord_chain_body", _chord_chain_body),
    ("chord_from_group_with_ids", _chord_from_group_with_ids),
    ("chord_link", _chord_link),
    ("chain_ending_in_chord", _chain_ending_in_chord),
    ("chain_group_then_task", _chain_group_then_task),
    ("chord_in_chord_header", _chord_in_chord_header),
    ("chain_of_two_chords", _chain_of_two_chords),
    ("chain_of_two_groups", _chain_of_two_groups),
    ("chain_one_member_group", _chain_one_member_group),
    ("map_in_chain", _map_in_chain),
    ("map", _map),
    ("starmap", _starmap),
    ("chunks", _chunks),
    ("chunks_then_body", _chunks_then_body),
    ("unicode", _unicode),
    ("numbers", _numbers),
    ("some_ids_given", _some_ids_given),
    ("explicit_ids", _explicit_ids),
]


def build(name: str, make: Callable[[], Any]) -> bytes:
    """Builds, freezes (ids NAME-1, NAME-2, ... in the order freeze asks) and serializes one canvas."""
    counter = itertools.count(1)
    original = freeze_module._new_id
    freeze_module._new_id = lambda: f"{name}-{next(counter)}"
    try:
        canvas = make()
        canvas.freeze()
        return canvas.to_proto().SerializeToString(deterministic=True)
    finally:
        freeze_module._new_id = original


def main() -> None:
    json.dump([{"name": name, "hex": build(name, make).hex()} for name, make in CORPUS], sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
