"""The public names are declared, not discovered."""

import motet
import motet.exceptions


def test_public_names_are_pinned() -> None:
    assert sorted(motet.__all__) == sorted([
        "App", "AsyncResult", "GroupResult", "Signature", "Task", "chain", "chord", "chunks",
        "current_app", "exceptions", "from_proto", "group", "signature", "xmap", "xstarmap",
    ])
    for name in motet.__all__:
        assert hasattr(motet, name)


def test_celery_exception_names_exist() -> None:
    for name in ("ChordError", "TaskRevokedError", "TimeoutError", "WorkerLost", "IncompleteStream"):
        assert issubclass(getattr(motet.exceptions, name), motet.exceptions.MotetError)
