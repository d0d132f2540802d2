"""DependencyGraph: the result graph of a workflow (Celery's `result.graph`), text and dot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

__all__ = ["DependencyGraph"]


class DependencyGraph:
    """Nodes (results) and edges parent -> child, in discovery order.

    `repr(graph)` prints Celery's indented text form ("id(valency)" per node); `to_dot(fh)`
    writes Graphviz dot.
    """

    def __init__(self) -> None:
        self.adjacent: dict[Any, list[Any]] = {}

    def add_arc(self, node: Any) -> None:
        """Adds a node (no edge)."""
        self.adjacent.setdefault(node, [])

    def add_edge(self, parent: Any, child: Any) -> None:
        """Adds the edge parent -> child."""
        self.add_arc(parent)
        self.adjacent[parent].append(child)

    def __getitem__(self, node: Any) -> list[Any]:
        return self.adjacent[node]

    def __contains__(self, node: object) -> bool:
        return node in self.adjacent

    def __iter__(self) -> Iterator[Any]:
        return iter(self.adjacent)

    def __len__(self) -> int:
        return len(self.adjacent)

    def items(self) -> Iterator[tuple[Any, list[Any]]]:
        """(node, children) pairs."""
        return iter(self.adjacent.items())

    def edges(self) -> list[Any]:
        """The nodes that have children (Celery's `edges()`)."""
        return [node for node, children in self.adjacent.items() if children]

    def valency_of(self, node: Any, _seen: frozenset[int] = frozenset()) -> int:
        """How many nodes are reachable from `node` (Celery's valency)."""
        if node not in self.adjacent or id(node) in _seen:
            return 0
        seen = _seen | {id(node)}
        return len(self.adjacent[node]) + sum(self.valency_of(c, seen) for c in self.adjacent[node])

    def _repr_node(self, node: Any, level: int = 1) -> list[str]:
        lines = [f"{node}({self.valency_of(node)})"]
        for child in self.adjacent.get(node, ()):
            sub = self._repr_node(child, level + 1)
            lines.append("     " * level + sub[0])
            lines.extend(sub[1:])
        return lines

    def __repr__(self) -> str:
        return "\n".join("\n".join(self._repr_node(node)) for node in self.adjacent)

    def to_dot(self, fh: IO[str]) -> None:
        """Writes the graph in Graphviz dot format to `fh`."""
        fh.write("digraph dependencies {\n")
        for node, children in self.adjacent.items():
            fh.write(f'    "{node}" [label="{node}"];\n')
            for child in children:
                fh.write(f'    "{node}" -> "{child}";\n')
        fh.write("}\n")
