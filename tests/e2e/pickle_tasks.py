"""Tasks of a Python-only deployment that opted in to pickle (`tests/e2e/test_pickle.py`):
values JSON cannot carry (a class of the app, a set, a tuple) travel as themselves."""

from __future__ import annotations

from dataclasses import dataclass

from motet import App

app = App("pickled", set_as_current=False)  # importing it must not change other tests' app
app.conf.update(task_serializer="pickle", result_serializer="pickle", accept_content=["json", "pickle"])


@dataclass(frozen=True)
class Point:
    """A value of the app's own type."""

    x: int
    y: int


@app.task
def shift(p: Point, dx: int) -> Point:
    return Point(p.x + dx, p.y)


@app.task
def total(points: list[Point]) -> Point:
    return Point(sum(p.x for p in points), sum(p.y for p in points))


@app.task
def describe(value: object, *, tags: object = None) -> tuple[str, object]:
    """What arrived, by type, with the keyword as it came (a set stays a set)."""
    return (type(value).__name__, tags)
