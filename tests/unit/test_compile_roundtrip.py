"""Compilation is lossless: random canvases survive to_proto -> from_proto -> to_proto."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from motet import Signature, chain, chord, chunks, from_proto, group, xmap, xstarmap

names = st.sampled_from(["proj.add", "proj.mul", "billing.charge", "x"])
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=5))
args = st.lists(json_leaf, max_size=3).map(tuple)
kwargs = st.dictionaries(st.text(min_size=1, max_size=4), json_leaf, max_size=2)
options = st.fixed_dictionaries(
    {},
    optional={
        "countdown": st.floats(0, 100),
        "queue": st.sampled_from(["celery", "emails"]),
        "priority": st.integers(0, 9),
        "time_limit": st.floats(0.5, 100),
        "max_retries": st.integers(0, 5),
        "task_id": st.uuids().map(str),
    },
)


@st.composite
def signatures(draw: Any) -> Signature:
    sig = Signature(draw(names), draw(args), draw(kwargs), immutable=draw(st.booleans()), **draw(options))
    if draw(st.booleans()):
        sig.link(Signature(draw(names), draw(args)))
    if draw(st.booleans()):
        sig.link_error(Signature(draw(names)))
    return sig


def canvases() -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        signatures(),
        st.builds(lambda s, items: xmap(s, items), signatures(), st.lists(json_leaf, max_size=3)),
        st.builds(lambda s, items: xstarmap(s, items), signatures(), st.lists(st.lists(json_leaf, max_size=2), max_size=3)),
        st.builds(lambda s, items, n: chunks(s, items, n), signatures(), st.lists(st.lists(json_leaf, max_size=2), max_size=4), st.integers(1, 3)),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda ts: chain(*ts)),
            st.lists(inner, max_size=3).map(lambda ts: group(*ts)),
            st.tuples(st.lists(inner, max_size=3), inner).map(lambda hb: chord(hb[0], hb[1])),
        ),
        max_leaves=8,
    )


@settings(max_examples=150, deadline=None, derandomize=True)
@given(canvases())
def test_compile_round_trip_is_lossless(canvas: Any) -> None:
    proto = canvas.to_proto()
    assert from_proto(proto).to_proto() == proto


@settings(max_examples=100, deadline=None, derandomize=True)
@given(canvases())
def test_ids_survive_freeze_and_round_trip(canvas: Any) -> None:
    canvas.freeze()
    proto = canvas.to_proto()
    again = from_proto(proto).to_proto()
    assert again == proto
    assert _ids(again) == _ids(proto) and all(_ids(proto))


def _ids(node: Any) -> list[str]:
    kind = node.WhichOneof("kind")
    if kind == "chain":
        return [i for t in node.chain.tasks for i in _ids(t)]
    if kind == "group":
        return [node.group.options.task_id] + [i for t in node.group.tasks for i in _ids(t)]
    if kind == "chord":
        return [node.chord.options.group_id] + [i for t in node.chord.header for i in _ids(t)] + _ids(node.chord.body)
    if kind == "chunks":
        return [node.chunks.options.task_id, *node.chunks.member_ids]
    return [getattr(node, kind).options.task_id]
