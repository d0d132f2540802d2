"""Result objects: AsyncResult and GroupResult, with Celery's API, read from the results service."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import IO, Any

from motet import client, payload
from motet.app import App, current_app
from motet.exceptions import IncompleteStream, TaskRevokedError, TimeoutError
from motet.failures import exception_from_failure
from motet.v1 import common_pb2, results_pb2

__all__ = ["AsyncResult", "DependencyGraph", "GroupResult", "ResultBase"]

_STATE_NAMES = {
    common_pb2.TASK_STATE_UNSPECIFIED: "PENDING",
    common_pb2.TASK_STATE_PENDING: "PENDING",
    common_pb2.TASK_STATE_RECEIVED: "RECEIVED",
    common_pb2.TASK_STATE_STARTED: "STARTED",
    common_pb2.TASK_STATE_SUCCESS: "SUCCESS",
    common_pb2.TASK_STATE_FAILURE: "FAILURE",
    common_pb2.TASK_STATE_RETRY: "RETRY",
    common_pb2.TASK_STATE_REVOKED: "REVOKED",
}
READY_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})


class ResultBase:
    """What AsyncResult and GroupResult share."""

    id: str
    parent: ResultBase | None
    app: App

    def __hash__(self) -> int:
        return hash(self.id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResultBase) and other.id == self.id


def _ref_to_result(ref: results_pb2.ResultRef, app: App) -> ResultBase:
    if ref.WhichOneof("ref") == "group":
        return GroupResult(ref.group.group_id, [_ref_to_result(m, app) for m in ref.group.members], app=app)
    return AsyncResult(ref.task_id, app=app)


def _value(result: results_pb2.TaskResult, propagate: bool) -> Any:
    state = _STATE_NAMES[result.state]
    if state == "SUCCESS":
        return payload.decode(result.value)
    exc = _exception(result)
    if propagate:
        raise exc
    return exc


def _exception(result: results_pb2.TaskResult) -> BaseException:
    if _STATE_NAMES[result.state] == "REVOKED" and (
        not result.failure.exc_type or result.failure.exc_type.endswith("TaskRevokedError")
    ):
        return TaskRevokedError(result.failure.message or f"task {result.task_id} was revoked")
    return exception_from_failure(result.failure)


class AsyncResult(ResultBase):
    """A task's result (Celery's AsyncResult). Works in any process that knows the id."""

    def __init__(self, id: str, app: App | None = None, parent: ResultBase | None = None) -> None:  # noqa: A002
        self.id = id
        self.app = app or current_app()
        self._parent = parent
        self._meta: results_pb2.TaskResult | None = None

    def __repr__(self) -> str:
        return f"<AsyncResult: {self.id}>"

    @property
    def task_id(self) -> str:
        """The task id (Celery's alias of `id`)."""
        return self.id

    def _fetch(self) -> results_pb2.TaskResult:
        if self._meta is not None and _STATE_NAMES[self._meta.state] in READY_STATES:
            return self._meta
        self._meta = client.get_result(self.app, self.id)
        return self._meta

    def _set(self, result: results_pb2.TaskResult) -> None:
        self._meta = result

    def get(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5, **_: Any) -> Any:
        """Waits for the result (pushed by the results service) and returns its value.

        Raises the task's exception (its original class when importable) if it failed and
        `propagate` is true; TaskRevokedError if it was revoked; TimeoutError after `timeout`.
        """
        if self._meta is None or _STATE_NAMES[self._meta.state] not in READY_STATES:
            for result in client.wait(self.app, [self.id], timeout):
                self._meta = result
        assert self._meta is not None
        return _value(self._meta, propagate)

    wait = get

    @property
    def state(self) -> str:
        """PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, RETRY or REVOKED."""
        return _STATE_NAMES[self._fetch().state]

    status = state

    def ready(self) -> bool:
        """Whether the task finished (succeeded, failed or was revoked)."""
        return self.state in READY_STATES

    def successful(self) -> bool:
        """Whether the task succeeded."""
        return self.state == "SUCCESS"

    def failed(self) -> bool:
        """Whether the task failed."""
        return self.state == "FAILURE"

    @property
    def result(self) -> Any:
        """The value, or the exception if it failed (None while not ready)."""
        meta = self._fetch()
        state = _STATE_NAMES[meta.state]
        if state == "SUCCESS":
            return payload.decode(meta.value)
        if state in ("FAILURE", "REVOKED", "RETRY") and meta.failure.exc_type:
            return _exception(meta)
        return None

    info = result

    @property
    def traceback(self) -> str | None:
        """The remote traceback text of a failure."""
        meta = self._fetch()
        return meta.failure.traceback or None

    @property
    def children(self) -> list[ResultBase]:
        """What this task started (next chain step, callbacks), from the server."""
        return [_ref_to_result(ref, self.app) for ref in self._fetch().children]

    @property  # type: ignore[override]
    def parent(self) -> ResultBase | None:
        """The result this one received its input from: known from freeze, else from the server."""
        if self._parent is None:
            parent_id = self._fetch().parent_id
            if parent_id:
                self._parent = AsyncResult(parent_id, app=self.app)
        return self._parent

    @parent.setter
    def parent(self, value: ResultBase | None) -> None:
        self._parent = value

    def iterdeps(self, intermediate: bool = False) -> Iterator[tuple[ResultBase | None, ResultBase]]:
        """(parent, node) pairs of the graph below this result, depth first."""
        stack: list[tuple[ResultBase | None, ResultBase]] = [(None, self)]
        while stack:
            parent, node = stack.pop()
            yield parent, node
            if node.ready():  # type: ignore[attr-defined]
                stack.extend((node, child) for child in node.children)  # type: ignore[attr-defined]
            elif not intermediate:
                raise IncompleteStream(f"result {node.id} is not ready; use collect(intermediate=True)")

    def collect(self, intermediate: bool = False, **kwargs: Any) -> Iterator[tuple[ResultBase, Any]]:
        """Yields (result, value) for this result and everything it started (Celery's collect)."""
        for _, node in self.iterdeps(intermediate=intermediate):
            yield node, node.get(**kwargs) if node.ready() else None  # type: ignore[attr-defined]

    @property
    def graph(self) -> DependencyGraph:
        """The dependency graph of this result and what it started."""
        graph = DependencyGraph()
        for parent, node in self.iterdeps(intermediate=True):
            graph.add_arc(node)
            if parent is not None:
                graph.add_edge(parent, node)
        return graph

    def forget(self) -> None:
        """Deletes the stored result."""
        client.forget(self.app, [self.id])
        self._meta = None

    def revoke(self, terminate: bool = False, **_: Any) -> None:
        """Revokes the task and everything downstream of it."""
        client.revoke(self.app, [self.id], terminate=terminate)


class GroupResult(ResultBase):
    """The results of a group, in order (Celery's GroupResult)."""

    def __init__(self, id: str | None = None, results: list[Any] | None = None, app: App | None = None, parent: ResultBase | None = None) -> None:  # noqa: A002
        self.id = id or ""
        self.results: list[Any] = list(results or [])
        self.app = app or current_app()
        self.parent = parent

    def __repr__(self) -> str:
        return f"<GroupResult: {self.id} [{', '.join(r.id for r in self.results)}]>"

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.results)

    @property
    def children(self) -> list[Any]:
        """The member results."""
        return self.results

    def _leaves(self) -> list[AsyncResult]:
        out: list[AsyncResult] = []
        for r in self.results:
            out.extend(r._leaves() if isinstance(r, GroupResult) else [r])
        return out

    def join(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5, **_: Any) -> list[Any]:
        """Waits for every member over one stream; returns their values in order (nested for nested groups)."""
        leaves = self._leaves()
        pending = [r.id for r in leaves if r._meta is None or _STATE_NAMES[r._meta.state] not in READY_STATES]
        if pending:
            by_id: dict[str, list[AsyncResult]] = {}
            for r in leaves:
                by_id.setdefault(r.id, []).append(r)
            deadline = None if timeout is None else time.monotonic() + timeout
            for result in client.wait(self.app, pending, timeout):
                for r in by_id[result.task_id]:
                    r._set(result)
                if propagate and _STATE_NAMES[result.state] != "SUCCESS":
                    break  # fail fast: the first failure is raised below, no waiting for the rest
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"the operation timed out after {timeout} s")
        return self._values(propagate)

    def _values(self, propagate: bool) -> list[Any]:
        values = []
        for r in self.results:
            if isinstance(r, GroupResult):
                values.append(r._values(propagate))
            elif r._meta is not None and _STATE_NAMES[r._meta.state] in READY_STATES:
                values.append(_value(r._meta, propagate))
            else:
                values.append(r.get(propagate=propagate))
        return values

    get = join

    def ready(self) -> bool:
        """Whether every member finished."""
        return all(r.ready() for r in self.results)

    def successful(self) -> bool:
        """Whether every member succeeded."""
        return all(r.successful() for r in self.results)

    def failed(self) -> bool:
        """Whether any member failed."""
        return any(r.failed() for r in self.results)

    def waiting(self) -> bool:
        """Whether any member is not finished yet."""
        return not self.ready()

    def completed_count(self) -> int:
        """How many members succeeded."""
        return sum(1 for r in self._leaves() if r.successful())

    def revoke(self, terminate: bool = False, **_: Any) -> None:
        """Revokes every member."""
        client.revoke(self.app, [r.id for r in self._leaves()], terminate=terminate)

    def forget(self) -> None:
        """Deletes the members' results and the saved group."""
        leaves = self._leaves()
        client.forget(self.app, [r.id for r in leaves] + [self.id])
        for r in leaves:
            r._meta = None

    def _ref(self) -> results_pb2.GroupRef:
        members = [
            results_pb2.ResultRef(group=r._ref()) if isinstance(r, GroupResult) else results_pb2.ResultRef(task_id=r.id)
            for r in self.results
        ]
        return results_pb2.GroupRef(group_id=self.id, members=members)

    def save(self) -> GroupResult:
        """Stores the member list so `GroupResult.restore(id)` works in any process."""
        client.save_group(self.app, self._ref())
        return self

    @classmethod
    def restore(cls, group_id: str, app: App | None = None, **_: Any) -> GroupResult:
        """The saved group with this id (NotFound if it was never saved)."""
        app = app or current_app()
        ref = client.restore_group(app, group_id)
        result = _ref_to_result(results_pb2.ResultRef(group=ref), app)
        assert isinstance(result, GroupResult)
        return result


class DependencyGraph:
    """The result graph (Celery's DependencyGraph subset): nodes, edges, text and dot output."""

    def __init__(self) -> None:
        self.adjacent: dict[ResultBase, list[ResultBase]] = {}

    def add_arc(self, node: ResultBase) -> None:
        """Adds a node."""
        self.adjacent.setdefault(node, [])

    def add_edge(self, parent: ResultBase, child: ResultBase) -> None:
        """Adds parent -> child."""
        self.add_arc(parent)
        self.adjacent[parent].append(child)

    def __iter__(self) -> Iterator[ResultBase]:
        return iter(self.adjacent)

    def __len__(self) -> int:
        return len(self.adjacent)

    def __repr__(self) -> str:
        lines = []
        for node, children in self.adjacent.items():
            lines.append(f"{node.id}({len(children)})")
            lines.extend(f"    {c.id}" for c in children)
        return "\n".join(lines)

    def to_dot(self, fh: IO[str]) -> None:
        """Writes the graph in Graphviz dot format."""
        fh.write("digraph dependencies {\n")
        for node, children in self.adjacent.items():
            fh.write(f'  "{node.id}";\n')
            for child in children:
                fh.write(f'  "{node.id}" -> "{child.id}";\n')
        fh.write("}\n")
