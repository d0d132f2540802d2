"""Result objects: AsyncResult and GroupResult with Celery's API, read from the results service.

Waiting is push-driven: `get()` opens one `WaitResult` stream (for a group: one stream for
every member) and the results service sends each result when it is ready. `parent` is known
from freeze when the canvas was built here, and read from the server otherwise (the result
graph lives on the server, so a fresh process that only knows an id can walk it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import traceback as tb_module
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from motet import payload
from motet.exceptions import IncompleteStream, MotetError, NotFound, TaskRevokedError
from motet.failures import exception_from_failure
from motet.graph import DependencyGraph
from motet.state import current_app, current_worker_request
from motet.v1 import common_pb2, results_pb2

if TYPE_CHECKING:
    from motet.app import App

__all__ = [
    "READY_STATES",
    "STATES",
    "AsyncResult",
    "EagerResult",
    "GroupResult",
    "ResultBase",
    "ResultSet",
    "result_from_tuple",
    "state_name",
]

STATES = {
    common_pb2.TASK_STATE_UNSPECIFIED: "PENDING",
    common_pb2.TASK_STATE_PENDING: "PENDING",
    common_pb2.TASK_STATE_RECEIVED: "RECEIVED",
    common_pb2.TASK_STATE_STARTED: "STARTED",
    common_pb2.TASK_STATE_SUCCESS: "SUCCESS",
    common_pb2.TASK_STATE_FAILURE: "FAILURE",
    common_pb2.TASK_STATE_RETRY: "RETRY",
    common_pb2.TASK_STATE_REVOKED: "REVOKED",
}
"""Wire states -> Celery's state strings."""

READY_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
"""States after which a task's result does not change."""


def _refuse_waiting_in_a_task(refuse: bool) -> None:
    """Celery's rule: a task a worker runs must not wait for a result (it can deadlock the
    worker's slots) unless it says `disable_sync_subtasks=False`."""
    if refuse and current_worker_request() is not None:
        raise RuntimeError(
            "Never call result.get() within a task! (Celery's rule: it can deadlock the worker); "
            "pass disable_sync_subtasks=False if you must"
        )


def state_name(result: results_pb2.TaskResult) -> str:
    """Celery's state string of a `motet.v1.TaskResult`."""
    return STATES.get(result.state, "PENDING")


def _exception(result: results_pb2.TaskResult) -> BaseException:
    failure = result.failure
    if state_name(result) == "REVOKED" and (failure.kind == common_pb2.FAILURE_KIND_REVOKED or not failure.exc_type):
        exc: BaseException = TaskRevokedError(result.failure.message or f"task {result.task_id} was revoked")
        exc.task_id = result.task_id  # type: ignore[attr-defined]  # Celery-style extra attribute on any class
        return exc
    return exception_from_failure(result.failure)


def _decode_value(result: results_pb2.TaskResult, app: App) -> Any:
    """A result's value, unpickled only where the app accepts pickle (Celery's
    ``result_accept_content``, default ``accept_content``)."""
    accept = payload.JSON_ONLY
    if b"pickle" in result.value.data:  # cheap: a value without the word holds no pickle tag
        conf = app.conf
        accept = payload.accepted(conf.get("result_accept_content") or conf.get("accept_content"))
    return payload.decode(result.value, accept=accept)


def _value(result: results_pb2.TaskResult, propagate: bool, app: App) -> Any:
    if state_name(result) == "SUCCESS":
        return _decode_value(result, app)
    exc = _exception(result)
    if propagate:
        raise exc
    return exc


class ResultBase:
    """What AsyncResult and GroupResult share: id, app, parent, equality by id."""

    _bound_app: ClassVar[App | None] = None
    id: str
    app: App
    _known_parent: ResultBase | None

    def _resolve_app(self, app: App | None) -> App:
        return app or type(self)._bound_app or current_app()

    def __hash__(self) -> int:
        return hash(self.id)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other == self.id
        return isinstance(other, ResultBase) and other.id == self.id

    def __str__(self) -> str:
        return self.id

    @property
    def parent(self) -> ResultBase | None:
        """The result this one received its input from, when known."""
        return self._known_parent

    @parent.setter
    def parent(self, value: ResultBase | None) -> None:
        self._known_parent = value

    def as_tuple(self) -> tuple[Any, Any]:
        """A plain nested tuple of ids that survives serialization (Celery's `as_tuple`);
        `result_from_tuple` rebuilds the result with its parents."""
        raise NotImplementedError

    def _maybe_throw(self) -> None:
        """Raises this result's exception if it is ready and failed (or was revoked)."""
        raise NotImplementedError

    def _raise_failed_ancestor(self) -> None:
        """Celery's `follow_parents`: walks the parents from the root down and raises the
        first failed one's exception (a chord body's ChordError gives way to the header
        member's original exception this way)."""
        line: list[ResultBase] = []
        seen = {self.id}
        node = self.parent
        while node is not None and node.id not in seen:
            seen.add(node.id)
            line.append(node)
            node = node.parent
        for ancestor in reversed(line):
            ancestor._maybe_throw()

    def ready(self) -> bool:
        """Whether the result will not change any more."""
        raise NotImplementedError

    def get(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5, **_: Any) -> Any:
        """Waits for and returns the value."""
        raise NotImplementedError

    @property
    def children(self) -> list[ResultBase] | None:
        """The results this one started (None while that is not known yet)."""
        raise NotImplementedError

    def iterdeps(self, intermediate: bool = False) -> Iterator[tuple[ResultBase | None, ResultBase]]:
        """(parent, node) pairs of this result and everything it started, breadth first.

        Raises:
            IncompleteStream: at a node that is not ready, unless `intermediate` is true.
        """
        queue: deque[tuple[ResultBase | None, ResultBase]] = deque([(None, self)])
        while queue:
            parent, node = queue.popleft()
            # As Celery: a node is yielded first, so a consumer that waits for it (collect)
            # learns what it started; one that does not (graph) stops at it if unfinished.
            yield parent, node
            if node.ready():
                queue.extend((node, child) for child in node.children or ())
            elif not intermediate:
                raise IncompleteStream(f"result {node.id} is not ready yet; use collect(intermediate=True)")

    def collect(self, intermediate: bool = False, **kwargs: Any) -> Iterator[tuple[ResultBase, Any]]:
        """Yields (result, value) for this result and everything it started (Celery's collect).

        With `intermediate`, a node that is not ready yet is yielded with the value None
        (and what it will start is not known yet); nothing blocks.

        Raises:
            IncompleteStream: when a node is not ready and `intermediate` is false.
        """
        for _, node in self.iterdeps(intermediate=intermediate):
            yield node, node.get(**kwargs) if not intermediate or node.ready() else None

    def get_leaf(self) -> Any:
        """The value of the last result `collect()` visits (Celery's `get_leaf`)."""
        leaf = None
        for _, value in self.collect():
            leaf = value
        return leaf

    def build_graph(self, intermediate: bool = False) -> DependencyGraph:
        """The dependency graph of this result and what it started."""
        graph = DependencyGraph()
        for parent, node in self.iterdeps(intermediate=intermediate):
            graph.add_arc(node)
            if parent is not None:
                graph.add_edge(parent, node)
        return graph

    @property
    def graph(self) -> DependencyGraph:
        """The dependency graph of this result and what it started (Celery's `graph`).

        Raises:
            IncompleteStream: if a node is not ready yet (use `build_graph(intermediate=True)`).
        """
        return self.build_graph()


def _ref_to_result(ref: results_pb2.ResultRef, app: App) -> ResultBase:
    if ref.WhichOneof("ref") == "group":
        return GroupResult(ref.group.group_id, [_ref_to_result(m, app) for m in ref.group.members], app=app)
    return AsyncResult(ref.task_id, app=app)


class AsyncResult(ResultBase):
    """A task's result (Celery's AsyncResult); works in any process that knows the id.

    Args:
        id: The task id.
        app: The App whose results service is asked (default: the bound or current app).
        parent: The result this task received its input from, when known.
    """

    def __init__(self, id: str, app: App | None = None, parent: ResultBase | None = None, **_: Any) -> None:  # noqa: A002 - Celery's parameter name
        self.id = id
        self.app = self._resolve_app(app)
        self._known_parent = parent
        self._meta: results_pb2.TaskResult | None = None
        self.ignored = False
        """Whether the task was sent with ignore_result (no result will ever be stored); set
        when the canvas is frozen here, as Celery sets it when sending."""

    def __repr__(self) -> str:
        return f"<AsyncResult: {self.id}>"

    @property
    def task_id(self) -> str:
        """The task id (Celery's alias of `id`)."""
        return self.id

    def _ready_meta(self) -> results_pb2.TaskResult | None:
        if self._meta is not None and state_name(self._meta) in READY_STATES:
            return self._meta
        return None

    def _fetch(self) -> results_pb2.TaskResult:
        meta = self._ready_meta()
        if meta is None:
            meta = self._meta = self.app.client.get_result(self.id)
        return meta

    def _set(self, result: results_pb2.TaskResult) -> None:
        self._meta = result

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        follow_parents: bool = True,
        disable_sync_subtasks: bool = True,
        **_: Any,
    ) -> Any:
        """Waits for the result (pushed by the results service) and returns its value.

        Args:
            timeout: Seconds to wait at most (None: no limit).
            propagate: Raise the task's exception if it failed (else return it).
            interval: Ignored (Celery's polling interval; Motet waits on a stream).
            follow_parents: When the task failed, raise the first failed ancestor's exception
                instead, from the root down (Celery's default): `get()` on a chord whose header
                failed raises the member's original exception, while the body's own result
                (`res.result`, `follow_parents=False`, `propagate=False`) is the ChordError.

        Returns None at once for a task sent with ignore_result (`ignored`): nothing is stored.

        Raises:
            The task's (or its first failed ancestor's) exception, its original class when
            importable here, else RemoteError; TaskRevokedError if it was revoked;
            motet.exceptions.TimeoutError after `timeout`.
        """
        if self.ignored:
            return None
        _refuse_waiting_in_a_task(disable_sync_subtasks)
        meta = self._ready_meta()
        if meta is None:
            for result in self.app.client.wait([self.id], timeout):
                self._meta = meta = result
        if meta is None:
            raise MotetError(f"the results service ended the wait for {self.id} without a result")
        if propagate and follow_parents and state_name(meta) != "SUCCESS":
            self._raise_failed_ancestor()
        return _value(meta, propagate, self.app)

    def _maybe_throw(self) -> None:
        meta = self._fetch()
        if state_name(meta) in ("FAILURE", "REVOKED"):
            raise _exception(meta)

    def exists(self) -> bool:
        """Whether the services hold a state for this id beyond PENDING (Celery 5.7's `exists`):
        a task that was received, started, retried or finished. An id never seen, or a task
        still waiting for a worker, does not exist yet."""
        return self.state not in ("PENDING", "RECEIVED")

    def as_tuple(self) -> tuple[Any, Any]:
        """`((id, parent_tuple), None)`, Celery's form; see `result_from_tuple`."""
        parent = self._known_parent
        return ((self.id, parent.as_tuple() if parent is not None else None), None)

    wait = get

    @property
    def state(self) -> str:
        """PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, RETRY or REVOKED."""
        return state_name(self._fetch())

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
        """The value if it succeeded, the exception if it failed / was revoked / is retrying, else None."""
        meta = self._fetch()
        state = state_name(meta)
        if state == "SUCCESS":
            return _decode_value(meta, self.app)
        if state in ("FAILURE", "REVOKED") or (state == "RETRY" and meta.failure.exc_type):
            return _exception(meta)
        return None

    info = result

    @property
    def traceback(self) -> str | None:
        """The remote traceback text of a failure (None if there is none)."""
        return self._fetch().failure.traceback or None

    @property
    def name(self) -> str | None:
        """The task name, with the app's `result_extended` setting on (else None, as Celery)."""
        if not self.app.conf.result_extended:
            return None
        return self._fetch().task or None

    @property
    def retries(self) -> int:
        """How many retries happened."""
        return int(self._fetch().retries)

    @property
    def date_done(self) -> dt.datetime | None:
        """When the task reached a ready state (UTC), or None."""
        meta = self._fetch()
        return meta.date_done.ToDatetime(tzinfo=dt.UTC) if meta.HasField("date_done") else None

    @property
    def children(self) -> list[ResultBase] | None:
        """What this task started (what it sent, its next chain step, callbacks), read from the
        server; None until the task is ready, as Celery."""
        meta = self._fetch()
        if state_name(meta) not in READY_STATES:
            return None
        return [_ref_to_result(ref, self.app) for ref in meta.children]

    @property
    def parent(self) -> ResultBase | None:
        """The result this one received its input from: known from freeze, else from the server."""
        if self._known_parent is None:
            parent_id = self._fetch().parent_id
            if parent_id:
                self._known_parent = AsyncResult(parent_id, app=self.app)
        return self._known_parent

    @parent.setter
    def parent(self, value: ResultBase | None) -> None:
        self._known_parent = value

    def forget(self) -> None:
        """Deletes the stored result."""
        self.app.client.forget([self.id])
        self._meta = None

    def revoke(self, terminate: bool = False, **_: Any) -> None:
        """Revokes the task and everything downstream of it."""
        self.app.client.revoke([self.id], terminate=terminate)


class EagerResult(AsyncResult):
    """A result that is already known (Celery's EagerResult, an AsyncResult that asks no service).

    Args:
        id: The task id given to the inline run.
        value: The return value, or the exception raised.
        state: "SUCCESS" or "FAILURE".
        traceback: The traceback text of a failure.
    """

    def __init__(self, id: str, value: Any, state: str, traceback: str | None = None) -> None:  # noqa: A002 - Celery's parameter name
        super().__init__(id)
        self._value = value
        self._state = state
        self._traceback = traceback

    @classmethod
    def run(cls, fun: Callable[[], Any], *, task_id: str, throw: bool = False) -> EagerResult:
        """Calls `fun` and records its value or its exception.

        Args:
            fun: What to run.
            task_id: The id the result gets.
            throw: Raise the exception instead of recording it (Celery's `task_eager_propagates`).
        """
        try:
            return cls(task_id, fun(), "SUCCESS")
        except Exception as exc:
            if throw:
                raise
            return cls(task_id, exc, "FAILURE", "".join(tb_module.format_exception(exc)))

    @property
    def state(self) -> str:
        """SUCCESS or FAILURE."""
        return self._state

    status = state

    @property
    def result(self) -> Any:
        """The value, or the exception."""
        return self._value

    info = result

    @property
    def traceback(self) -> str | None:
        """The traceback text of a failure."""
        return self._traceback

    @property
    def children(self) -> list[ResultBase]:
        """Nothing: an eager run starts nothing on the services."""
        return []

    parent = ResultBase.parent  # only what was set here: there is no server to ask

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        follow_parents: bool = True,
        disable_sync_subtasks: bool = True,
        **_: Any,
    ) -> Any:
        """The value; the exception is raised if the run failed and `propagate` is true."""
        if self._state == "FAILURE" and propagate:
            raise self._value
        return self._value

    wait = get

    def forget(self) -> None:
        """Nothing to forget: the result lives in this object only."""

    def revoke(self, terminate: bool = False, **_: Any) -> None:
        """Nothing to revoke: the run is over."""

    def ready(self) -> bool:
        """Always true."""
        return True

    def successful(self) -> bool:
        """Whether the run returned."""
        return self.state == "SUCCESS"

    def failed(self) -> bool:
        """Whether the run raised."""
        return self.state == "FAILURE"

    def exists(self) -> bool:
        """Always true: the result is here."""
        return True

    def __repr__(self) -> str:
        return f"<EagerResult: {self.id}>"


class ResultSet(ResultBase):
    """A set of results waited on together (Celery's ResultSet); `GroupResult` is one with an id.

    Args:
        results: The member results (AsyncResult or nested GroupResult), in order.
        app: The App whose services are asked (default: the bound or current app).
    """

    def __init__(self, results: list[Any] | None = None, app: App | None = None, **_: Any) -> None:
        self.id = ""
        self.results: list[Any] = list(results or [])
        self.app = self._resolve_app(app)
        self._known_parent = None

    def __repr__(self) -> str:
        return f"<ResultSet: [{', '.join(r.id for r in self.results)}]>"

    def __eq__(self, other: object) -> bool:
        if type(other) is ResultSet and type(self) is ResultSet:
            return other.results == self.results
        return super().__eq__(other)

    __hash__ = ResultBase.__hash__

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.results)

    def __getitem__(self, index: int) -> Any:
        return self.results[index]

    def add(self, result: ResultBase) -> None:
        """Adds a result to the set (once)."""
        if result not in self.results:
            self.results.append(result)

    def update(self, results: Iterable[ResultBase]) -> None:
        """Adds several results (each once)."""
        for result in results:
            self.add(result)

    def remove(self, result: ResultBase | str) -> None:
        """Removes a result (a result or its id).

        Raises:
            KeyError: if it is not in the set.
        """
        for r in self.results:
            if r == result:
                self.results.remove(r)
                return
        raise KeyError(result)

    def discard(self, result: ResultBase | str) -> None:
        """Removes a result if it is in the set."""
        with contextlib.suppress(KeyError):
            self.remove(result)

    def clear(self) -> None:
        """Empties the set."""
        self.results.clear()

    @property
    def children(self) -> list[Any]:
        """The member results."""
        return self.results

    def _leaves(self) -> list[AsyncResult]:
        out: list[AsyncResult] = []
        for r in self.results:
            out.extend(r._leaves() if isinstance(r, GroupResult) else [r])
        return out

    def _wait_all(self, timeout: float | None, propagate: bool, in_order: bool, disable_sync: bool) -> list[Any]:
        _refuse_waiting_in_a_task(disable_sync)
        leaves = [r for r in self._leaves() if not r.ignored]  # an ignored result never arrives
        pending = [r.id for r in leaves if r._ready_meta() is None]
        if pending:
            by_id: dict[str, list[AsyncResult]] = {}
            for r in leaves:
                by_id.setdefault(r.id, []).append(r)
            for result in self.app.client.wait(pending, timeout):
                for r in by_id.get(result.task_id, ()):
                    r._set(result)
                if not propagate or state_name(result) == "SUCCESS":
                    continue
                if not in_order:
                    self._raise_member_failure(result)
                # join: the first failure in list order, once every member before it is in.
                for r in leaves:
                    meta = r._ready_meta()
                    if meta is None:
                        break
                    if state_name(meta) != "SUCCESS":
                        self._raise_member_failure(meta)
        return self._values(propagate)

    def _raise_member_failure(self, meta: results_pb2.TaskResult) -> NoReturn:
        # A member that never ran because what the group waited on failed (a group that is a
        # chord's body): raise that failure, as a chord body's get() does (Celery 5.7 too).
        if meta.failure.kind == common_pb2.FAILURE_KIND_UPSTREAM:
            self._raise_failed_ancestor()
        raise _exception(meta)

    def join_native(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        disable_sync_subtasks: bool = True,
        **_: Any,
    ) -> list[Any]:
        """Waits for every member over one stream; returns their values in member order.

        Nested groups give nested lists; a member sent with ignore_result gives None. With
        `propagate`, the first failure to arrive is raised at once (no waiting for the others),
        as Celery's `join_native` (what `get()` uses).

        Raises:
            The first failure to arrive (with `propagate`); motet.exceptions.TimeoutError
            after `timeout`.
        """
        return self._wait_all(timeout, propagate, in_order=False, disable_sync=disable_sync_subtasks)

    get = join_native

    def join(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        disable_sync_subtasks: bool = True,
        **_: Any,
    ) -> list[Any]:
        """Like `get()`, but raises the first failure in member order, as Celery's `join`
        (which waits for each member in turn); values still arrive over one stream.

        Raises:
            The first failed member's exception in member order (with `propagate`);
            motet.exceptions.TimeoutError after `timeout`.
        """
        return self._wait_all(timeout, propagate, in_order=True, disable_sync=disable_sync_subtasks)

    def _values(self, propagate: bool) -> list[Any]:
        values: list[Any] = []
        for r in self.results:
            if isinstance(r, GroupResult):
                values.append(r._values(propagate))
            elif r.ignored:
                values.append(None)
            else:
                meta = r._ready_meta()
                values.append(_value(meta, propagate, r.app) if meta is not None else r.get(propagate=propagate))
        return values

    def _states(self) -> list[str]:
        """Every member's state (nested groups flattened), read in one call for all members
        not known to be finished."""
        leaves = self._leaves()
        stale = [r for r in leaves if not isinstance(r, EagerResult) and r._ready_meta() is None]
        if stale:
            ids = list(dict.fromkeys(r.id for r in stale))
            by_id = {m.task_id: m for m in self.app.client.get_results(ids)}
            for r in stale:
                r._set(by_id[r.id])
        return [r.state if isinstance(r, EagerResult) or r._meta is None else state_name(r._meta) for r in leaves]

    def ready(self) -> bool:
        """Whether every member finished (one call for all members)."""
        return all(s in READY_STATES for s in self._states())

    def successful(self) -> bool:
        """Whether every member succeeded (one call for all members)."""
        return all(s == "SUCCESS" for s in self._states())

    def failed(self) -> bool:
        """Whether any member failed (one call for all members)."""
        return any(s == "FAILURE" for s in self._states())

    def waiting(self) -> bool:
        """Whether any member is not finished yet."""
        return not self.ready()

    def completed_count(self) -> int:
        """How many members succeeded (one call for all members)."""
        return sum(1 for s in self._states() if s == "SUCCESS")

    def revoke(self, terminate: bool = False, **_: Any) -> None:
        """Revokes every member (and what follows them)."""
        self.app.client.revoke([r.id for r in self._leaves()], terminate=terminate)

    def forget(self) -> None:
        """Deletes the members' results and the saved group."""
        leaves = self._leaves()
        self.app.client.forget([r.id for r in leaves] + [self.id])
        for r in leaves:
            r._meta = None

    def _maybe_throw(self) -> None:
        for r in self.results:
            r._maybe_throw()


class GroupResult(ResultSet):
    """The results of a group, in submission order (Celery's GroupResult).

    Args:
        id: The group id.
        results: The member results (AsyncResult or nested GroupResult), in order.
        app: The App whose services are asked (default: the bound or current app).
        parent: The result the group received its input from, when known.
    """

    def __init__(
        self,
        id: str | None = None,  # noqa: A002 - Celery's parameter name
        results: list[Any] | None = None,
        app: App | None = None,
        parent: ResultBase | None = None,
        **_: Any,
    ) -> None:
        super().__init__(results, app=app)
        self.id = id or ""
        self._known_parent = parent

    def __repr__(self) -> str:
        return f"<GroupResult: {self.id} [{', '.join(r.id for r in self.results)}]>"

    def as_tuple(self) -> tuple[Any, Any]:
        """`((id, parent_tuple), [member tuples])`, Celery's form; see `result_from_tuple`."""
        parent = self._known_parent
        return ((self.id, parent.as_tuple() if parent is not None else None), [r.as_tuple() for r in self.results])

    def to_ref(self) -> results_pb2.GroupRef:
        """This group as a `motet.v1.GroupRef` (ids only)."""
        members = [
            results_pb2.ResultRef(group=r.to_ref())
            if isinstance(r, GroupResult)
            else results_pb2.ResultRef(task_id=r.id)
            for r in self.results
        ]
        return results_pb2.GroupRef(group_id=self.id, members=members)

    def delete(self) -> None:
        """Deletes the saved member list (`save()`), not the members' results (Celery's `delete`)."""
        self.app.client.forget([self.id])

    def save(self) -> GroupResult:
        """Stores the member list so `GroupResult.restore(id)` works in any process."""
        self.app.client.save_group(self.to_ref())
        return self

    @classmethod
    def restore(cls, id: str, app: App | None = None, **_: Any) -> GroupResult | None:  # noqa: A002 - Celery's parameter name
        """The saved group with this id, or None if it was never saved, or was forgotten or
        expired (as Celery's `GroupResult.restore`)."""
        app = app or cls._bound_app or current_app()
        try:
            ref = app.client.restore_group(id)
        except NotFound:
            return None
        return GroupResult(ref.group_id, [_ref_to_result(m, app) for m in ref.members], app=app)


def result_from_tuple(r: Any, app: App | None = None) -> ResultBase:
    """The result an `as_tuple()` form describes, parents included (Celery's `result_from_tuple`).

    Raises:
        ValueError: if `r` is not such a tuple.
    """
    if isinstance(r, ResultBase):
        return r
    try:
        res, nodes = r
        task_id, parent = res if isinstance(res, (list, tuple)) else (res, None)
    except (TypeError, ValueError):
        raise ValueError(f"not a result tuple: {r!r}") from None
    parent_result = result_from_tuple(parent, app) if parent else None
    if nodes is not None:
        return GroupResult(task_id, [result_from_tuple(child, app) for child in nodes], app=app, parent=parent_result)
    return AsyncResult(task_id, app=app, parent=parent_result)
