"""Values and errors on the wire (pure logic)."""

from __future__ import annotations

import pytest

from examples.guide.tasks import add
from motet import payload
from motet.exceptions import ChordError, EncodeError, RemoteError
from motet.failures import exception_from_failure, failure_from_exception


@pytest.mark.parametrize("value", [{1, 2}, b"bytes", object(), float("nan")])
def test_values_json_cannot_hold_are_refused_naming_the_task_and_argument(value: object) -> None:
    with pytest.raises(EncodeError, match=r"task .*add args\[1\]"):
        add.s(1, value).to_proto()


def test_oversized_values_are_refused_not_truncated() -> None:
    with pytest.raises(EncodeError, match="exceeds"):
        payload.encode(["x" * payload.MAX_PAYLOAD_BYTES], what="big")


def test_tuples_become_lists_and_round_trip() -> None:
    assert payload.decode(payload.encode({"a": (1, 2)})) == {"a": [1, 2]}


def test_a_builtin_exception_comes_back_as_its_class() -> None:
    f = failure_from_exception(ValueError("something something"), task_id="t1")
    exc = exception_from_failure(f)
    assert type(exc) is ValueError
    assert str(exc) == "something something"
    assert exc.task_id == "t1"  # type: ignore[attr-defined]


def test_motet_exceptions_come_back_as_their_class() -> None:
    exc = exception_from_failure(failure_from_exception(ChordError("Dependency x raised"), task_id="t"))
    assert isinstance(exc, ChordError)


def test_an_unknown_class_becomes_remote_error() -> None:
    f = failure_from_exception(ValueError("boom"), task_id="t2")
    f.exc_type = "billing.errors.CardDeclined"
    exc = exception_from_failure(f)
    assert isinstance(exc, RemoteError)
    assert exc.exc_type == "billing.errors.CardDeclined"
    assert "boom" in str(exc)
