"""A canvas's shape, comparable across systems: the signature dicts both build (Celery's wire
format), reduced to task basenames, arguments, types and nested canvases. Used by the unit test
that checks `bench.scenarios.build` makes the same canvas on Motet and on Celery:
``python -m bench.shapes`` prints every scenario's shape at small sizes as JSON (run by either
system's python, after `bench.run.canvas`).
"""

from __future__ import annotations

import json
import sys
from typing import Any

SIZES = {"S1": 3, "S2": 1, "S3": 4, "S4": 3, "S5": 2, "S6": 250, "S7": 5}


def shape(value: Any) -> Any:
    """Signatures become {task, args, kwargs, type, immutable}; task names lose their module."""
    if isinstance(value, dict) and "task" in value and "subtask_type" in value:
        kwargs = {k: shape(v) for k, v in (value.get("kwargs") or {}).items() if v != {}}
        return {
            "task": str(value["task"]).rsplit(".", 1)[-1],
            "args": shape(list(value.get("args") or [])),
            "kwargs": kwargs,
            "type": value.get("subtask_type"),
            "immutable": bool(value.get("immutable")),
        }
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [shape(v) for v in value]
    return value


def shapes(system: str) -> dict[str, Any]:
    from bench.run import canvas
    from bench.scenarios import SCENARIOS, build

    c = canvas(system)
    return {name: shape(json.loads(json.dumps(build(name, SIZES[name], c), default=list))) for name in SCENARIOS}


if __name__ == "__main__":
    print(json.dumps(shapes(sys.argv[1] if len(sys.argv) > 1 else "motet")))
