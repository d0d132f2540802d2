"""Tasks for the unit tests: the canvas guide's examples, defined on their own App."""

from __future__ import annotations

from typing import Any

from motet import App

app = App("proj")


@app.task
def add(x: int, y: int = 0, debug: bool = False) -> int:
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
def identity(value: Any) -> Any:
    return value


@app.task
def raising_task(*args: Any) -> None:
    raise ValueError("something something")


@app.task
def create_user(username: str, first: str = "", last: str = "", email: str = "") -> str:
    return username


@app.task
def import_contacts(user: str) -> str:
    return f"contacts of {user}"


@app.task
def send_welcome_email(user: str) -> str:
    return f"welcome {user}"


@app.task
def log_error(request: Any, exc: BaseException, traceback: str) -> str:
    return f"{request.id}: {exc}"


@app.task(bind=True, max_retries=2, default_retry_delay=7)
def flaky(self: Any, value: int) -> Any:
    raise self.retry(exc=RuntimeError(f"flaky {value}"))


@app.task(bind=True)
def whoami(self: Any) -> dict[str, Any]:
    r = self.request
    return {"id": r.id, "called_directly": r.called_directly, "args": list(r.args)}


@app.task(bind=True)
def replacer(self: Any, n: int) -> None:
    self.replace(add.s(n, n) | mul.s(2))


@app.task(ignore_result=True)
def quiet(x: int) -> int:
    return x
