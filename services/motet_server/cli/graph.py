"""`motet graph ID [--dot]`: a workflow's result graph, as Graphviz DOT or as indented text.

The graph is read from the results service, walking from the id up (parent ids, to the root)
and down (each result's children); a group's members come from its saved group when there is
one (`motet submit` saves every group it sends), else from the results that name it. A chord's
body names as parent the header member that finished last and is no child of it: it is drawn
as the header group's child (`header -> body`). Exit codes: 0 printed, 1 an unknown id or a
service that cannot be reached.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from motet.client import Client
from motet.exceptions import MotetError, NotFound
from motet.result import READY_STATES, state_name
from motet.settings import ClientSettings
from motet.v1 import results_pb2
from motet_server.cli.render import Palette, complain

__all__ = ["Workflow", "graph", "read_workflow", "to_dot", "to_text"]

_MAX_NODES = 2000
_FILL = {"SUCCESS": "palegreen", "FAILURE": "lightpink", "REVOKED": "plum", "STARTED": "lightblue"}


@dataclass
class Workflow:
    """Tasks and groups (nodes) and edges (parent, child, kind: "child", "member" or "chord")."""

    tasks: dict[str, results_pb2.TaskResult] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    truncated: bool = False

    def add_edge(self, parent: str, child: str, kind: str) -> None:
        """Adds an edge once."""
        if (parent, child, kind) not in self.edges:
            self.edges.append((parent, child, kind))


class _Reader:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.flow = Workflow()
        self.reached: set[str] = set()  # tasks some parent lists (directly or through a group)
        self.tried_groups: set[str] = set()

    def _group(self, group: results_pb2.GroupRef, queue: list[str]) -> None:
        members = self.flow.groups.setdefault(group.group_id, [])
        for member in group.members:
            if member.WhichOneof("ref") == "group":
                self._group(member.group, queue)
                child = member.group.group_id
            else:
                child = member.task_id
                self.reached.add(child)
                queue.append(child)
            if child not in members:
                members.append(child)
            self.flow.add_edge(group.group_id, child, "member")

    def _saved(self, group_id: str, queue: list[str]) -> bool:
        if group_id in self.tried_groups:
            return group_id in self.flow.groups
        self.tried_groups.add(group_id)
        try:
            self._group(self.client.restore_group(group_id), queue)
        except NotFound:
            return False
        return True

    def walk(self, seeds: list[str]) -> Workflow:
        queue = list(seeds)
        while queue:
            batch = [i for i in dict.fromkeys(queue) if i not in self.flow.tasks]
            queue = []
            if len(self.flow.tasks) + len(batch) > _MAX_NODES:
                batch, self.flow.truncated = batch[: max(_MAX_NODES - len(self.flow.tasks), 0)], True
            for result in self.client.get_results(batch) if batch else []:
                self.flow.tasks[result.task_id] = result
                for ref in result.children:
                    if ref.WhichOneof("ref") == "group":
                        self._group(ref.group, queue)
                        self.flow.add_edge(result.task_id, ref.group.group_id, "child")
                    else:
                        self.reached.add(ref.task_id)
                        self.flow.add_edge(result.task_id, ref.task_id, "child")
                        queue.append(ref.task_id)
                if result.group_id:
                    self._saved(result.group_id, queue)
                if result.parent_id:
                    queue.append(result.parent_id)
        self._link_the_rest()
        return self.flow

    def _link_the_rest(self) -> None:
        """Edges the children lists do not give: members of unsaved groups, chord bodies."""
        for task_id, result in self.flow.tasks.items():
            if result.group_id and task_id not in self.flow.groups.setdefault(result.group_id, []):
                self.flow.groups[result.group_id].append(task_id)
                self.flow.add_edge(result.group_id, task_id, "member")
                self.reached.add(task_id)
        for task_id, result in self.flow.tasks.items():
            parent = self.flow.tasks.get(result.parent_id)
            if parent is None:
                continue
            if result.group_id:  # a member: its parent started the whole group
                if not any(e[1] == result.group_id and e[2] != "member" for e in self.flow.edges):
                    self.flow.add_edge(parent.task_id, result.group_id, "child")
            elif task_id not in self.reached:
                if parent.group_id:  # the body of a chord: its header's child
                    self.flow.add_edge(parent.group_id, task_id, "chord")
                else:
                    self.flow.add_edge(parent.task_id, task_id, "child")


def read_workflow(client: Client, task_id: str) -> Workflow:
    """The workflow around `task_id` (a task or a saved group id).

    Raises:
        NotFound: nothing is known about the id.
    """
    (first,) = client.get_results([task_id])
    reader = _Reader(client)
    if not first.task and state_name(first) not in READY_STATES:
        queue: list[str] = []
        if not reader._saved(task_id, queue):
            raise NotFound(f"nothing is known about {task_id}: no task, result or saved group with that id")
        return reader.walk(queue)
    return reader.walk([task_id, *([first.root_id] if first.root_id else [])])


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(flow: Workflow) -> str:
    """Graphviz DOT: a box per task (task name and state, coloured by state), an ellipse per
    group, dashed edges to a group's members, a "chord" edge from a header to its body."""
    lines = ["digraph motet {", "  rankdir=TB;", '  node [shape=box, style="rounded,filled", fillcolor=white];']
    for task_id, result in flow.tasks.items():
        state = state_name(result)
        label = f"{result.task or '?'}\n{state}"
        fill = _FILL.get(state, "white")
        lines.append(f"  {_quote(task_id)} [label={_quote(label)}, tooltip={_quote(task_id)}, fillcolor={fill}];")
    for group_id, members in flow.groups.items():
        label = f"group\n{len(members)} member{'s' if len(members) != 1 else ''}"
        lines.append(
            f"  {_quote(group_id)} [shape=ellipse, style=solid, label={_quote(label)}, tooltip={_quote(group_id)}];"
        )
    for parent, child, kind in flow.edges:
        attrs = {"member": " [style=dashed]", "chord": ' [label="chord", style=bold]'}.get(kind, "")
        lines.append(f"  {_quote(parent)} -> {_quote(child)}{attrs};")
    lines.append("}")
    return "\n".join(lines)


def to_text(flow: Workflow, palette: Palette) -> Iterator[str]:
    """The graph indented: each node, then its children one level deeper ("(above)" for a node
    already shown)."""
    below: dict[str, list[tuple[str, str]]] = {}
    has_parent: set[str] = set()
    for parent, child, kind in flow.edges:
        below.setdefault(parent, []).append((child, kind))
        has_parent.add(child)
    nodes = [*flow.tasks, *flow.groups]
    shown: set[str] = set()

    def label(node: str) -> str:
        if node in flow.groups:
            return f"group[{node}] ({len(flow.groups[node])} members)"
        result = flow.tasks[node]
        return f"{result.task or '?'}[{node}] {palette.state(state_name(result))}"

    def visit(node: str, depth: int, kind: str) -> Iterator[str]:
        lead = "    " * depth + ("chord body: " if kind == "chord" else "")
        if node in shown:
            yield f"{lead}{label(node)} (above)"
            return
        shown.add(node)
        yield lead + label(node)
        for child, child_kind in below.get(node, []):
            yield from visit(child, depth + 1, child_kind)

    for node in nodes:
        if node not in has_parent and node not in shown:
            yield from visit(node, 0, "")
    for node in nodes:  # a cycle would leave nodes no root reaches
        if node not in shown:
            yield from visit(node, 0, "")
    if flow.truncated:
        yield f"... (stopped at {_MAX_NODES} results)"


def graph(settings: ClientSettings, task_id: str, *, dot: bool = False, color: str = "auto") -> int:
    """Prints the workflow around `task_id`; see the module for what is drawn and exit codes."""
    try:
        flow = read_workflow(Client(settings), task_id)
    except MotetError as exc:
        complain("graph", exc)
        return 1
    if dot:
        print(to_dot(flow))
    else:
        for line in to_text(flow, Palette.choose(color, sys.stdout)):
            print(line)
    return 0
