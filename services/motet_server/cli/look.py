"""`motet status` and `motet inspect ID`: what runs, and where a workflow stands, in a terminal.

Both talk to the services over gRPC with the Python SDK's client, as any user program would.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from motet.channels import channel
from motet.client import Client
from motet.exceptions import MotetError, NotFound
from motet.settings import ClientSettings
from motet.v1 import common_pb2, results_pb2
from motet_server.cli.render import Palette, complain, describe

__all__ = ["inspect", "status"]

_HEALTH_TIMEOUT = 2.0
_MAX_NODES = 2000
"""Nodes `motet inspect` prints before it says how many it left out."""


def _health(endpoint: str, settings: ClientSettings) -> str:
    """SERVING, NOT_SERVING, ... or UNREACHABLE (within two seconds)."""
    try:
        stub = health_pb2_grpc.HealthStub(channel(endpoint, (settings.tls_ca, settings.tls_cert, settings.tls_key)))
        reply = stub.Check(  # type: ignore[attr-defined]  # grpcio-health-checking's stubs omit the methods
            health_pb2.HealthCheckRequest(), timeout=_HEALTH_TIMEOUT
        )
    except grpc.RpcError:
        return "UNREACHABLE"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def status(settings: ClientSettings) -> int:
    """Prints the services' health and every connected worker (any scheduler replica answers for
    all): its queues, slots in use, tasks held, and the task names it serves. Returns 1 when a
    service is not serving."""
    healthy = True
    for name, endpoint in (("scheduler", settings.scheduler), ("results", settings.results)):
        state = _health(endpoint, settings)
        healthy &= state == "SERVING"
        print(f"{name:<10} {endpoint:<22} {state}")
    if not healthy:
        print("start a cluster with `motet dev --app MODULE`, or set MOTET_SCHEDULER / MOTET_RESULTS")
        return 1
    try:
        workers = Client(settings).inspect_workers()
    except MotetError as exc:
        print(f"cannot list the workers: {exc}")
        return 1
    print(f"workers    {len(workers)} connected")
    for w in sorted(workers, key=lambda w: w.name):
        running = len(w.active)
        print(
            f"  {w.name}  queues={','.join(w.queues)}  slots {running}/{w.concurrency} busy"
            f"  {len(w.reserved)} reserved  {sum(w.completed.values())} done"
        )
        print(f"    serves: {', '.join(w.task_names)}")
        for held in w.active:
            print(f"    running {held.task}[{held.task_id}]{' (started)' if held.started else ''}")
    if not workers:
        print("  no worker is connected: tasks wait (start one with `motet worker --app MODULE`)")
    return 0


def _tree(client: Client, root: results_pb2.TaskResult, palette: Palette) -> Iterator[str]:
    """The lines of the tree under ``root``: each result, then what it started."""
    printed = 0

    def walk(
        result: results_pb2.TaskResult,
        prefix: str,
        last: bool,
        top: bool,
        parent: results_pb2.TaskResult | None = None,
    ) -> Iterator[str]:
        nonlocal printed
        printed += 1
        line = describe(result, palette, parent)
        yield (line if top else prefix + ("└── " if last else "├── ") + line)
        inner = "" if top else prefix + ("    " if last else "│   ")
        refs = list(result.children)
        for i, ref in enumerate(refs):
            if printed >= _MAX_NODES:
                yield inner + "└── ... (more results not shown)"
                return
            yield from walk_ref(ref, inner, i == len(refs) - 1, result)

    def walk_ref(
        ref: results_pb2.ResultRef, prefix: str, last: bool, parent: results_pb2.TaskResult | None
    ) -> Iterator[str]:
        nonlocal printed
        if ref.WhichOneof("ref") == "group":
            members = list(ref.group.members)
            printed += 1
            yield prefix + ("└── " if last else "├── ") + f"group[{ref.group.group_id}] ({len(members)} members)"
            inner = prefix + ("    " if last else "│   ")
            tasks = [m.task_id for m in members if m.WhichOneof("ref") == "task_id"]
            known = {r.task_id: r for r in client.get_results(tasks)} if tasks else {}
            for i, member in enumerate(members):
                if printed >= _MAX_NODES:
                    yield inner + "└── ... (more results not shown)"
                    return
                if member.WhichOneof("ref") == "task_id":
                    yield from walk(known[member.task_id], inner, i == len(members) - 1, False, parent)
                else:
                    yield from walk_ref(member, inner, i == len(members) - 1, parent)
        else:
            (result,) = client.get_results([ref.task_id])
            yield from walk(result, prefix, last, False, parent)

    yield from walk(root, "", True, True)


def inspect(settings: ClientSettings, task_id: str, color: str = "auto") -> int:
    """Prints the workflow that starts at ``task_id`` (a task or a saved group id) as a tree of
    results: each one's state, value or error, and when it finished (with the time since its
    parent finished, where both are known). Colour per `color` (auto: on a terminal only).
    Returns 1, with one line on stderr, when nothing is known about the id or a service cannot
    be reached."""
    client = Client(settings)
    palette = Palette.choose(color, sys.stdout)
    try:
        (root,) = client.get_results([task_id])
        if root.state == common_pb2.TASK_STATE_PENDING and not root.task:
            try:
                group = client.restore_group(task_id)
            except NotFound:
                complain("inspect", f"nothing is known about {task_id}: no task, result or saved group with that id")
                return 1
            ref = results_pb2.ResultRef(group=group)
            for line in _tree(client, results_pb2.TaskResult(task_id=task_id, task="group", children=[ref]), palette):
                print(line)
            return 0
        for line in _tree(client, root, palette):
            print(line)
    except MotetError as exc:
        complain("inspect", exc)
        return 1
    return 0
