"""Server-side canvas rules (pure logic): validation, ids, result ids. Inheritance: test_expand."""

from __future__ import annotations

import json

from motet.v1 import canvas_pb2, common_pb2
from motet_server.scheduler import nodes
from tests.support.canvases import chain, chord, group, payload, sig


def test_a_chord_without_a_body_is_refused_with_its_path() -> None:
    bad = canvas_pb2.Canvas(chord=canvas_pb2.Chord(header=[sig("add", 1, 1)]))
    assert nodes.validate(bad) == [("canvas.chord.body", "a chord needs a body (a signature or canvas)")]


def test_negative_countdown_and_bad_priority_are_refused() -> None:
    bad = sig("add", countdown=-1, priority=12)
    paths = [path for path, _ in nodes.validate(bad)]
    assert paths == ["canvas.signature.options.countdown", "canvas.signature.options.priority"]


def test_an_empty_chain_and_a_nameless_signature_are_refused() -> None:
    assert nodes.validate(chain())[0][0] == "canvas.chain.tasks"
    assert nodes.validate(group(sig("")))[0] == (
        "canvas.group.tasks[0].signature.task",
        "a signature needs a task name",
    )


def test_nesting_beyond_the_limit_is_refused() -> None:
    node = sig("add")
    for _ in range(nodes.MAX_DEPTH + 2):
        node = chain(node)
    assert "nesting deeper" in nodes.validate(node)[0][1]


def test_oversized_and_malformed_payloads_are_refused() -> None:
    big = sig("add")
    big.signature.args.data = json.dumps(["x" * (nodes.MAX_PAYLOAD_BYTES + 1)]).encode()
    assert "exceeds" in nodes.validate(big)[0][1]
    wrong = sig("add")
    wrong.signature.args.CopyFrom(payload({"not": "a list"}))
    assert nodes.validate(wrong)[0][1] == "must be a JSON list"


def test_ensure_ids_fills_only_what_is_missing() -> None:
    node = chord([sig("add", task_id="keep")], sig("tsum"))
    node.chord.body.signature.options.task_id = ""
    node.chord.options.group_id = ""
    nodes.ensure_ids(node)
    assert node.chord.header[0].signature.options.task_id == "keep"
    assert node.chord.body.signature.options.task_id
    assert node.chord.options.group_id


def test_chunk_member_ids_are_derived_from_the_group_id() -> None:
    node = canvas_pb2.Canvas(
        chunks=canvas_pb2.Chunks(task=canvas_pb2.Signature(task="add"), items=payload([[1, 1]] * 25), size=10)
    )
    node.chunks.options.task_id = "g"
    nodes.ensure_ids(node)
    assert list(node.chunks.member_ids) == [nodes.chunk_member_id("g", i) for i in range(3)]


def test_result_and_root_ids_follow_celery() -> None:
    c = chain(sig("a", task_id="1"), group(sig("b", task_id="2"), sig("c", task_id="3"), group_id="g"))
    assert nodes.first_task_id(c) == "1"
    assert nodes.result_id(c) == "g"
    assert nodes.result_id(chord([sig("a", task_id="1")], sig("b", task_id="body"))) == "body"
    assert list(nodes.all_task_ids(c)) == ["1", "2", "3"]


def test_a_nan_or_infinite_time_is_refused() -> None:
    # NaN compares false with everything: it would pass "not negative" and poison the
    # dispatcher's time-ordered heaps (tests/e2e/test_fuzz.py generates such canvases).
    for name in ("countdown", "expires", "time_limit", "soft_time_limit"):
        for value in (float("nan"), float("inf")):
            bad = sig("add", 1)
            setattr(bad.signature.options, name, value)
            assert (f"canvas.signature.options.{name}", f"{name} must be a finite number of seconds") in nodes.validate(
                bad
            ), (name, value)


def test_a_payload_encoding_the_scheduler_cannot_read_is_refused_at_submission() -> None:
    # Found by the fuzz suite: a chord with an empty header starts its body at once, decoding
    # its args; a pickle body then failed expansion with UNKNOWN instead of being refused.
    from motet.v1 import canvas_pb2, common_pb2
    from motet_server.scheduler import nodes as scheduler_nodes

    body = canvas_pb2.Canvas(
        signature=canvas_pb2.Signature(task="t", args=common_pb2.Payload(encoding="pickle", data=b"[1, 2]"))
    )
    violations = scheduler_nodes.validate(canvas_pb2.Canvas(chord=canvas_pb2.Chord(header=[], body=body)))
    assert any("encoding 'pickle' is not supported" in why for _, why in violations)


def test_task_routes_with_links_include_every_callback_and_errback() -> None:
    on_error = sig("cb.err", queue="errs")
    step = sig("t.first", queue="q1")
    step.signature.options.link_error.append(on_error)
    body = sig("t.body")
    body.signature.options.link.append(chain(sig("cb.one"), sig("cb.two", queue="q3")))
    canvas = chain(step, chord([sig("t.member")], body))
    canvas.chain.options.queue = "outer"
    assert list(nodes.task_routes(canvas)) == [("q1", "t.first"), ("outer", "t.member"), ("outer", "t.body")]
    assert list(nodes.task_routes(canvas, links=True)) == [
        ("q1", "t.first"),
        ("errs", "cb.err"),
        ("outer", "t.member"),
        ("outer", "t.body"),
        ("outer", "cb.one"),
        ("q3", "cb.two"),
    ]


def test_pickled_values_are_refused_unless_the_scheduler_accepts_them() -> None:
    pickled = common_pb2.Payload(encoding="json", data=b'[{"__type__":"pickle","__value__":"gARLAS4="}]')
    canvas = canvas_pb2.Canvas(signature=canvas_pb2.Signature(task="t", args=pickled))
    violations = nodes.validate(canvas)
    assert violations == [("canvas.signature.args", nodes.PICKLE_REFUSED)]
    assert nodes.validate(canvas, pickle=True) == []
    assert nodes.holds_pickle(pickled.data)
    # The word alone, in a string or as another tag's value, is not a pickled value.
    assert not nodes.holds_pickle(b'["pickle", {"__type__": "bytes", "__value__": "pickle"}]')


def test_the_scheduler_moves_tagged_values_without_interpreting_them() -> None:
    tagged = b'{"__type__":"datetime","__value__":"2026-12-02T13:30:00+00:00"}'
    value = nodes.decode_json(common_pb2.Payload(encoding="json", data=tagged))
    assert value == json.loads(tagged)  # still the tag: encode_json can write it again
    assert json.loads(nodes.encode_json([value, 1]).data) == [json.loads(tagged), 1]
