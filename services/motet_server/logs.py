"""How every `motet` process logs: text lines for a terminal, or one JSON object per line for a
log pipeline (``--log-format json``, env MOTET_LOG_FORMAT).

A JSON line has ``time`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``; the ids a record
carries (``extra=task_fields(...)``: ``task_id``, ``task``, ``root_id``, ``parent_id``,
``group_id``, ``worker_id``) become fields of their own, so a pipeline can follow one task or one
workflow (all tasks of a root id) across the scheduler and the workers without parsing messages;
an exception adds ``exception`` (its formatted traceback).
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

__all__ = ["FORMATS", "FIELDS", "JsonFormatter", "configure", "task_fields"]

FORMATS = ("text", "json")
"""What --log-format accepts."""

FIELDS = ("task_id", "task", "root_id", "parent_id", "group_id", "worker_id")
"""Record attributes that become JSON fields when set."""

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def task_fields(task_id: str, task: str = "", root_id: str = "", **more: str) -> dict[str, str]:
    """The ``extra`` of a log call about one task: its id, name and workflow (root) id."""
    return {k: v for k, v in {"task_id": task_id, "task": task, "root_id": root_id or task_id, **more}.items() if v}


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value:
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure(level: str, fmt: str = "text") -> None:
    """Sets up the root logger of a `motet` process (stderr)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
