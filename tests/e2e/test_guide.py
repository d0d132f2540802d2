"""Every example of the Celery canvas guide gives the guide's value on a real cluster."""

from __future__ import annotations

import pytest

from examples.guide.examples import EXAMPLES, Example


@pytest.mark.parametrize(
    "example",
    [pytest.param(e, marks=[pytest.mark.slow] if e.slow else [], id=e.title[:60]) for e in EXAMPLES],
)
def test_guide_example(cluster: object, example: Example) -> None:
    assert example.run() == example.expected
