"""Compilation is lossless: random canvases survive to_proto -> from_proto -> to_proto."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from motet import Signature, chain, chord, chunks, from_proto, group, xmap, xstarmap
from motet.v1 import canvas_pb2

names = st.sampled_from(["proj.add", "proj.mul", "billing.charge", "x"])
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.text(max_size=5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=4,
)
args = st.lists(json_value, max_size=3).map(tuple)
kwargs = st.dictionaries(st.text(min_size=1, max_size=4), json_value, max_size=2)
moments = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC))
options = st.fixed_dictionaries(
    {},
    optional={
        "countdown": st.floats(0, 100),
        "eta": moments,
        "expires": st.one_of(st.floats(0.5, 100), moments),
        "queue": st.sampled_from(["celery", "emails"]),
        "priority": st.integers(0, 9),
        "time_limit": st.floats(0.5, 100),
        "soft_time_limit": st.floats(0.5, 100),
        "max_retries": st.integers(0, 5),
        "retries": st.integers(0, 5),
        "ignore_result": st.booleans(),
        "task_id": st.uuids().map(str),
        "routing_key": st.text(max_size=4),
        "headers": st.dictionaries(st.text(max_size=3), json_leaf, max_size=2),
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
    arg_lists = st.lists(st.lists(json_leaf, max_size=2), max_size=4)
    leaves = st.one_of(
        signatures(),
        st.builds(xmap, signatures(), st.lists(json_value, max_size=3)),
        st.builds(xstarmap, signatures(), arg_lists),
        st.builds(chunks, signatures(), arg_lists, st.integers(1, 3)),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda ts: chain(*ts)),
            st.tuples(st.lists(inner, min_size=2, max_size=3), options).map(lambda t: chain(*t[0], **t[1])),
            st.tuples(st.lists(inner, max_size=3), st.sampled_from([{}, {"queue": "q"}])).map(
                lambda t: group(*t[0], **t[1])
            ),
            st.tuples(st.lists(inner, max_size=3), inner).map(lambda hb: chord(hb[0], hb[1])),
            st.tuples(inner, inner).map(lambda ab: ab[0] | ab[1]),
        ),
        max_leaves=8,
    )


def _has_empty_chain(c: Any) -> bool:
    if isinstance(c, chain):
        return not c.tasks or any(_has_empty_chain(t) for t in c.tasks)
    if isinstance(c, chord):
        return any(_has_empty_chain(t) for t in c.tasks) or _has_empty_chain(c.body)
    if isinstance(c, group):
        return any(_has_empty_chain(t) for t in c.tasks)
    return False


@settings(max_examples=150, deadline=None, derandomize=True)
@given(canvases())
def test_compile_round_trip_is_lossless(canvas: Any) -> None:
    assume(not _has_empty_chain(canvas))
    proto = canvas.to_proto()
    again = from_proto(proto)
    assert again.to_proto() == proto
    assert from_proto(canvas_pb2.Canvas.FromString(proto.SerializeToString())).to_proto() == proto


@settings(max_examples=100, deadline=None, derandomize=True)
@given(canvases())
def test_ids_survive_freeze_and_round_trip(canvas: Any) -> None:
    assume(not _has_empty_chain(canvas))
    canvas.freeze()
    proto = canvas.to_proto()
    again = from_proto(proto).to_proto()
    assert again == proto
    ids = _ids(again)
    assert ids == _ids(proto) and all(ids)
    assert len(set(ids)) == len(ids)


def _ids(node: Any) -> list[str]:
    kind = node.WhichOneof("kind")
    if kind == "chain":
        return [i for t in node.chain.tasks for i in _ids(t)]
    if kind == "group":
        return [node.group.options.task_id] + [i for t in node.group.tasks for i in _ids(t)]
    if kind == "chord":
        return [node.chord.options.group_id] + [i for t in node.chord.header for i in _ids(t)] + _ids(node.chord.body)
    if kind == "map":
        return [node.map.options.task_id]
    if kind == "chunks":
        return [node.chunks.options.task_id, *node.chunks.member_ids]
    options = node.signature.options
    return [options.task_id] + [i for c in [*options.link, *options.link_error] for i in _ids(c)]


def test_a_frozen_chord_compiles_with_its_header_group_id() -> None:
    from tests.unit.tasks import add, tsum

    c = chord([add.s(1, 1)], tsum.s())
    res = c.freeze()
    proto = c.to_proto()
    assert proto.chord.options.group_id == res.parent.id
    assert proto.chord.body.signature.options.task_id == res.id
    assert from_proto(proto).to_proto() == proto


def test_unknown_extra_options_from_another_language_survive() -> None:
    from motet import payload

    msg = canvas_pb2.Canvas(
        signature=canvas_pb2.Signature(
            task="x",
            options=canvas_pb2.Options(task_id="t", extra=payload.encode({"tenant": "acme"}, what="extra")),
        )
    )
    sig = from_proto(msg)
    assert sig.options == {"task_id": "t", "tenant": "acme"}
    assert sig.to_proto() == from_proto(sig.to_proto()).to_proto()
