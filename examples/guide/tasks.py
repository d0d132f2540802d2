"""The tasks the Celery canvas guide uses, as a Motet app (`motet dev --app examples.guide.tasks`)."""

from __future__ import annotations

import os
import time

from motet import App
from motet.task import Request

app = App("proj")


@app.task
def add(x: int, y: int, debug: bool = False) -> int:
    return x + y


@app.task
def mul(x: int, y: int) -> int:
    return x * y


@app.task
def xsum(numbers: list[int]) -> int:
    return sum(numbers)


@app.task
def tsum(numbers: list[int]) -> int:
    return sum(numbers)


@app.task
def identity(value: object) -> object:
    return value


@app.task
def raising_task(*args: object) -> None:
    raise ValueError("something something")


@app.task
def fail(*args: object) -> None:
    raise RuntimeError("fail")


def _record(kind: str, line: str) -> None:
    folder = os.environ.get("MOTET_TEST_RECORD_DIR")
    if folder:
        with open(os.path.join(folder, kind), "a") as fh:
            fh.write(line + "\n")


@app.task
def log_error(request: Request, exc: BaseException, traceback: str) -> str:
    _record("log_error", f"{request.id} {type(exc).__name__}: {exc}")
    return f"{request.id}: {exc}"


@app.task
def on_chord_error(request: Request, exc: BaseException, traceback: str) -> str:
    _record("on_chord_error", f"{request.id} {type(exc).__name__}: {exc}")
    return f"Task {request.id!r} raised error: {exc!r}"


@app.task
def log_result(value: object) -> object:
    _record("log_result", repr(value))
    return value


@app.task
def reset_buffers(*args: object) -> str:
    return "reset"


@app.task
def other_task(value: object) -> object:
    return value


@app.task
def create_user(username: str, first: str, last: str, email: str) -> dict[str, str]:
    return {"username": username, "name": f"{first} {last}", "email": email}


@app.task
def import_contacts(user: dict[str, str]) -> str:
    return f"imported contacts of {user['username']}"


@app.task
def send_welcome_email(user: dict[str, str]) -> str:
    return f"welcome mail to {user['email']}"


@app.task
def import_contact(contact: str) -> str:
    return contact.upper()


@app.task
def notify_complete(import_id: int) -> str:
    return f"import {import_id} complete"


@app.task
def sleep_task(seconds: float) -> float:
    time.sleep(seconds)
    return seconds
