"""`motet submit FILE`, `motet revoke ID...` and `motet workers`: acting on a cluster by hand.

Exit codes: 0 done; 1 not done (a bad file, a canvas the scheduler refuses, a service that
cannot be reached), on one line on stderr. `submit --wait` then exits as `motet wait` does
(0 value printed, 1 failed, 2 timed out, 3 could not wait), 3 also for anything that stopped
the submission.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from motet.client import Client
from motet.exceptions import MotetError
from motet.settings import ClientSettings
from motet.v1 import scheduler_pb2
from motet_server.cli import canvas_file, wait
from motet_server.cli.render import complain

__all__ = ["revoke", "submit", "workers"]


def submit(settings: ClientSettings, path: str, *, wait_for: bool = False, timeout: float | None = None) -> int:
    """Submits the canvas in `path` ("-": standard input); prints `{"root_id", "result_id",
    "created"}` as JSON (on stderr with `wait_for`, whose value goes to stdout). Each group in
    it (a chord's header too) is saved under its id, so `motet wait|inspect|graph GROUP_ID` work."""
    refused = wait.EXIT_ERROR if wait_for else 1
    try:
        canvas, parent_id = canvas_file.load(path, sys.stdin.read() if path == "-" else None)
    except canvas_file.CanvasFileError as exc:
        complain("submit", exc)
        return refused
    canvas_file.assign_ids(canvas)
    client = Client(settings)
    try:
        reply = client.submit(canvas, parent_id=parent_id)
    except MotetError as exc:
        complain("submit", exc)
        return refused
    for group in canvas_file.groups(canvas):
        try:
            client.save_group(group)
        except MotetError as exc:  # the canvas runs; only `motet wait GROUP_ID` will not know the group
            complain("submit", f"submitted, but group {group.group_id} was not saved: {exc}")
    line = json.dumps({"root_id": reply.root_id, "result_id": reply.result_id, "created": reply.created})
    if not wait_for:
        print(line)
        return 0
    sys.stderr.write(line + "\n")
    return wait.follow(client, canvas_file.shape(canvas), canvas_file.watched(canvas), timeout)


def revoke(settings: ClientSettings, ids: list[str], *, terminate: bool = False) -> int:
    """Revokes `ids` (and what follows them); prints how many tasks were revoked now."""
    try:
        count = Client(settings).revoke(ids, terminate=terminate)
    except MotetError as exc:
        complain("revoke", exc)
        return 1
    print(f"revoked {count} task{'s' if count != 1 else ''}" + (" (running ones terminated)" if terminate else ""))
    return 0


def _worker(w: scheduler_pb2.WorkerInfo) -> dict[str, Any]:
    return {
        "name": w.name,
        "worker_id": w.worker_id,
        "hostname": w.hostname,
        "pid": w.pid,
        "queues": list(w.queues),
        "task_names": list(w.task_names),
        "concurrency": w.concurrency,
        "busy": len(w.active),
        "reserved": len(w.reserved),
        "completed": dict(w.completed),
        "connected_at": w.connected_at.ToJsonString() if w.HasField("connected_at") else None,
    }


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def workers(settings: ClientSettings, *, as_json: bool = False) -> int:
    """Prints the connected workers (any scheduler replica answers for all) as a table, or as a
    JSON list with `as_json`."""
    try:
        found = sorted(Client(settings).inspect_workers(), key=lambda w: w.name)
    except MotetError as exc:
        complain("workers", exc)
        return 1
    if as_json:
        print(json.dumps([_worker(w) for w in found], indent=2))
        return 0
    if not found:
        print("no worker is connected: tasks wait (start one with `motet worker --app MODULE`)")
        return 0
    rows = [["NAME", "QUEUES", "CONCURRENCY", "BUSY", "RESERVED", "DONE", "TASKS"]]
    for w in found:
        info = _worker(w)
        rows.append(
            [
                w.name,
                ",".join(w.queues),
                str(w.concurrency),
                str(info["busy"]),
                str(info["reserved"]),
                str(sum(w.completed.values())),
                ",".join(w.task_names),
            ]
        )
    for line in _table(rows):
        print(line)
    return 0
