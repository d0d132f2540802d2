"""The same task names as `tests/e2e/pickle_tasks.py`, in an app that did not opt in to pickle
(Celery's default ``accept_content = ["json"]``): its worker refuses pickled arguments."""

from __future__ import annotations

from motet import App

app = App("pickled", set_as_current=False)


@app.task(name="tests.e2e.pickle_tasks.shift")
def shift(p: object, dx: int) -> object:
    raise AssertionError("a pickled argument reached a worker that does not accept pickle")
