"""The public names are declared, not discovered."""

import importlib

import pytest

import motet
import motet.exceptions


def test_public_names_are_pinned() -> None:
    assert sorted(motet.__all__) == sorted(
        [
            "App",
            "AsyncResult",
            "EagerResult",
            "GroupResult",
            "Signature",
            "Task",
            "chain",
            "chord",
            "chunks",
            "current_app",
            "exceptions",
            "from_proto",
            "group",
            "maybe_signature",
            "signature",
            "to_proto",
            "xmap",
            "xstarmap",
        ]
    )
    for name in motet.__all__:
        assert hasattr(motet, name)


def test_exception_tree_is_pinned() -> None:
    e = motet.exceptions
    assert sorted(e.__all__) == sorted(
        [
            "CanvasError",
            "ChordError",
            "ContentDisallowed",
            "EncodeError",
            "Ignore",
            "ImproperlyConfigured",
            "IncompleteStream",
            "MaxRetriesExceededError",
            "MotetError",
            "NotAuthenticated",
            "NotFound",
            "NotInChord",
            "NotRegistered",
            "PermissionDenied",
            "RemoteError",
            "RemoteTraceback",
            "Replace",
            "Retry",
            "ServiceUnavailable",
            "SoftTimeLimitExceeded",
            "TaskRevokedError",
            "TimeLimitExceeded",
            "TimeoutError",
            "WorkerLost",
        ]
    )
    for name in e.__all__:
        assert issubclass(getattr(e, name), e.MotetError)
    assert issubclass(e.CanvasError, ValueError) and issubclass(e.EncodeError, ValueError)
    assert issubclass(e.ContentDisallowed, e.EncodeError)
    assert issubclass(e.NotRegistered, KeyError) and issubclass(e.TimeoutError, TimeoutError)


@pytest.mark.parametrize(
    "module",
    [
        "motet.app",
        "motet.task",
        "motet.canvas",
        "motet.canvas.signature",
        "motet.canvas.composite",
        "motet.canvas.chain",
        "motet.canvas.group",
        "motet.canvas.chord",
        "motet.canvas.mapping",
        "motet.canvas.compose",
        "motet.canvas.freeze",
        "motet.canvas.compile",
        "motet.canvas.validate",
        "motet.result",
        "motet.graph",
        "motet.client",
        "motet.channels",
        "motet.settings",
        "motet.state",
        "motet.canvas.kinds",
        "motet.payload",
        "motet.failures",
        "motet.exceptions",
    ],
)
def test_every_module_declares_its_public_names(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__all__, module
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"
