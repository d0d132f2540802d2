"""Values and errors on the wire (pure logic)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid

import pytest

from motet import payload
from motet.exceptions import ChordError, ContentDisallowed, EncodeError, NotRegistered, RemoteError, TaskRevokedError
from motet.failures import exception_from_failure, failure_from_exception
from motet.v1 import common_pb2
from tests.unit.tasks import add


@pytest.mark.parametrize("value", [{1, 2}, object(), float("nan"), float("inf")])
def test_values_json_cannot_hold_are_refused_naming_the_task_and_argument(value: object) -> None:
    with pytest.raises(EncodeError, match=r"task tests\.unit\.tasks\.add argument 1"):
        add.s(1, value).to_proto()


def test_nested_values_and_kwargs_are_named_precisely() -> None:
    with pytest.raises(EncodeError, match=r"argument 0\[1\]\['k'\]: a set"):
        add.s([1, {"k": {2}}]).to_proto()
    with pytest.raises(EncodeError, match=r"keyword 'debug'"):
        add.s(1, debug={1}).to_proto()
    with pytest.raises(EncodeError, match="dict key 1 is not a string"):
        payload.encode({1: 2}, what="x")


def test_oversized_values_are_refused_not_truncated() -> None:
    with pytest.raises(EncodeError, match="exceeds the 1048576-byte payload limit"):
        payload.encode(["x" * payload.MAX_PAYLOAD_BYTES], what="big")
    with pytest.raises(EncodeError, match="task tests.unit.tasks.add arguments: .* exceeds"):
        add.s("x" * payload.MAX_PAYLOAD_BYTES).to_proto()


def test_celerys_json_types_travel_in_kombus_forms_and_come_back() -> None:
    when = dt.datetime(2026, 12, 1, 21, 17, 20, 5, tzinfo=dt.UTC)
    ident = uuid.UUID("12345678123456781234567812345678")
    value = [when, when.date(), dt.time(9, 30), decimal.Decimal("1.10"), ident, b"raw", b"\xff\x00"]
    p = payload.encode(value, what="v")
    assert json.loads(p.data) == [
        {"__type__": "datetime", "__value__": "2026-12-01T21:17:20.000005+00:00"},
        {"__type__": "date", "__value__": "2026-12-01"},
        {"__type__": "time", "__value__": "09:30:00"},
        {"__type__": "decimal", "__value__": "1.10"},
        {"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}},
        {"__type__": "bytes", "__value__": "raw"},
        {"__type__": "base64", "__value__": "/wA="},
    ]
    assert payload.decode(p) == value
    assert payload.decode(payload.encode({"at": when}, what="v")) == {"at": when}


def test_an_unknown_tagged_type_is_a_clear_error() -> None:
    bad = common_pb2.Payload(encoding="json", data=b'{"__type__": "frob", "__value__": 1}')
    with pytest.raises(EncodeError, match="unknown type 'frob'"):
        payload.decode(bad)


def test_tuples_and_ranges_become_lists_and_round_trip() -> None:
    p = payload.encode({"a": (1, 2), "b": range(3), "c": "é"}, what="v")
    assert p.encoding == "json"
    assert payload.decode(p) == {"a": [1, 2], "b": [0, 1, 2], "c": "é"}
    assert payload.decode(common_pb2.Payload(), default=[]) == []


def test_unknown_encodings_and_bad_json_are_refused() -> None:
    with pytest.raises(EncodeError, match="'pickle' is not supported"):
        payload.decode(common_pb2.Payload(encoding="pickle", data=b"x"))
    with pytest.raises(EncodeError, match="not valid JSON"):
        payload.decode(common_pb2.Payload(encoding="json", data=b"{"))


def test_a_builtin_exception_comes_back_as_its_class() -> None:
    f = failure_from_exception(ValueError("something something"), task_id="t1")
    assert f.exc_type == "builtins.ValueError" and json.loads(f.exc_args.data) == ["something something"]
    exc = exception_from_failure(f)
    assert type(exc) is ValueError
    assert str(exc) == "something something"
    assert exc.task_id == "t1"
    assert "ValueError" in exc.remote_traceback


def test_exceptions_with_several_args_and_keyerrors_round_trip() -> None:
    exc = exception_from_failure(failure_from_exception(KeyError("missing"), task_id="t"))
    assert type(exc) is KeyError and exc.args == ("missing",)
    exc = exception_from_failure(failure_from_exception(OSError(2, "No such file"), task_id="t"))
    assert isinstance(exc, OSError) and exc.errno == 2


def test_motet_exceptions_come_back_as_their_class() -> None:
    assert isinstance(
        exception_from_failure(failure_from_exception(ChordError("Dependency x raised"), task_id="t")), ChordError
    )
    assert isinstance(
        exception_from_failure(failure_from_exception(TaskRevokedError("revoked"), task_id="t")), TaskRevokedError
    )
    assert str(NotRegistered("task 'x' is not registered")) == "task 'x' is not registered"


class CustomError(Exception):
    def __init__(self, code: int, *, detail: str) -> None:
        super().__init__(f"{code}: {detail}")


def test_a_class_that_cannot_be_rebuilt_from_its_args_becomes_remote_error() -> None:
    f = failure_from_exception(CustomError(3, detail="x"), task_id="t3")
    exc = exception_from_failure(f)
    assert isinstance(exc, RemoteError) and exc.exc_type.endswith("test_payload_and_failures.CustomError")


def test_an_unknown_class_becomes_remote_error() -> None:
    f = failure_from_exception(ValueError("boom"), task_id="t2")
    f.exc_type = "billing.errors.CardDeclined"
    exc = exception_from_failure(f)
    assert isinstance(exc, RemoteError)
    assert exc.exc_type == "billing.errors.CardDeclined" and exc.task_id == "t2"
    assert "boom" in str(exc) and "ValueError" in exc.remote_traceback
    # relayed again, it keeps the original class name
    assert failure_from_exception(exc, task_id="t9").exc_type == "billing.errors.CardDeclined"


def test_system_exits_are_not_raised_in_the_client() -> None:
    f = common_pb2.TaskFailure(exc_type="builtins.SystemExit", message="1", task_id="t")
    assert isinstance(exception_from_failure(f), RemoteError)


def test_unencodable_exception_args_fall_back_to_the_message() -> None:
    f = failure_from_exception(ValueError({1, 2}), task_id="t")
    assert not f.exc_args.data
    assert type(exception_from_failure(f)) is ValueError


PICKLED = frozenset({payload.JSON, payload.PICKLE})


def test_pickled_values_round_trip_only_where_pickle_is_accepted() -> None:
    values = [{1, 2}, (1, "a"), decimal.Decimal("2.5"), ValueError("x").args, frozenset()]
    args = payload.encode_args(values, task="t", serializer=payload.PICKLE)
    assert args.encoding == "json"  # the tags live inside JSON, which the scheduler can still read
    wire = json.loads(args.data)
    assert all(item.keys() == {"__type__", "__value__"} and item["__type__"] == "pickle" for item in wire)
    assert payload.decode(args, accept=PICKLED) == values
    kwargs = payload.encode_kwargs({"s": {3}}, task="t", serializer=payload.PICKLE)
    assert payload.decode(kwargs, accept=PICKLED) == {"s": {3}}
    for refused in (args, kwargs):
        with pytest.raises(ContentDisallowed, match="does not accept pickle"):
            payload.decode(refused)


def test_a_pickled_value_may_sit_inside_plain_json_as_the_scheduler_puts_it() -> None:
    # A chain step's args: the parent's (pickled) result put in front of the step's own.
    parent = json.loads(payload.encode({1}, serializer=payload.PICKLE).data)
    composed = common_pb2.Payload(encoding="json", data=json.dumps([parent, 5]).encode())
    assert payload.decode(composed, accept=PICKLED) == [{1}, 5]


def test_pickled_items_of_maps_and_chunks_are_pickled_one_by_one() -> None:
    star = payload.encode_items([(1, {2})], what="chunks", star=True, serializer=payload.PICKLE)
    assert [len(row) for row in json.loads(star.data)] == [2]  # the scheduler can still cut rows
    assert payload.decode(star, accept=PICKLED) == [[1, {2}]]
    flat = payload.encode_items([{1}, {2}], what="map", star=False, serializer=payload.PICKLE)
    assert payload.decode(flat, accept=PICKLED) == [{1}, {2}]
    assert payload.encode_items([[1]], what="map", star=True) == payload.encode([[1]])


def test_accept_content_takes_names_and_content_types_and_refuses_others() -> None:
    assert payload.accepted(None) == payload.JSON_ONLY
    assert payload.accepted(["application/json", "application/x-python-serialize"]) == PICKLED
    with pytest.raises(EncodeError, match="'yaml' is not a serializer"):
        payload.accepted(["json", "yaml"])
    with pytest.raises(EncodeError, match="serializer 'msgpack' is not one Motet has"):
        payload.encode(1, serializer="msgpack")


def test_an_unpicklable_value_and_a_broken_pickle_are_encode_errors() -> None:
    with pytest.raises(EncodeError, match="argument 0: a generator cannot be pickled"):
        payload.encode_args([(i for i in range(2))], task="t", serializer=payload.PICKLE)
    broken = common_pb2.Payload(encoding="json", data=b'[{"__type__":"pickle","__value__":"AAAA"}]')
    with pytest.raises(EncodeError, match="cannot be unpickled"):
        payload.decode(broken, accept=PICKLED)


def test_an_unknown_tag_is_named_not_called_invalid_json() -> None:
    odd = common_pb2.Payload(encoding="json", data=b'{"__type__":"set","__value__":[1]}')
    with pytest.raises(EncodeError, match=r"^payload holds a value of unknown type 'set'"):
        payload.decode(odd)
