"""The architecture's import rules (docs/architecture.md), checked on the source: no process, no network.

Imports are read with `ast`. An import under `if TYPE_CHECKING:` is for annotations only and
never runs, so it is not an edge of the runtime graph; every other import is, wherever it
stands (an import inside a function is still a dependency, just a late one).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path, source_root: Path) -> str:
    parts = list(path.relative_to(source_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    """Collects (imported module, inside a function?) for the runtime imports of one module."""

    def __init__(self, package: str, modules: set[str]) -> None:
        self.package = package
        self.modules = modules  # the modules of the tree, to tell `from pkg import module` apart
        self.found: list[tuple[str, bool]] = []
        self._depth = 0

    def visit_If(self, node: ast.If) -> None:  # noqa: N802 - ast.NodeVisitor's method name
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def _function(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = _function  # noqa: N815 - ast.NodeVisitor's method name
    visit_AsyncFunctionDef = _function  # noqa: N815 - ast.NodeVisitor's method name

    def visit_Import(self, node: ast.Import) -> None:  # noqa: N802 - ast.NodeVisitor's method name
        self.found += [(alias.name, self._depth > 0) for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:  # noqa: N802 - ast.NodeVisitor's method name
        if node.level:  # relative imports are not used here, but resolve them honestly if they appear
            base = self.package.rsplit(".", node.level - 1)[0] if node.level > 1 else self.package
            module = f"{base}.{node.module}" if node.module else base
        else:
            module = node.module or ""
        late = self._depth > 0
        for alias in node.names:
            # `from motet.canvas import kinds` depends on the module motet.canvas.kinds (the package
            # __init__ runs first, but that is the package importing its own modules).
            sub = f"{module}.{alias.name}"
            if sub in self.modules:
                self.found.append((sub, late))
            else:
                self.found.append((module, late))


def _runtime_imports(source_root: Path, top: str) -> dict[str, list[tuple[str, bool]]]:
    """Module -> (imported module, inside a function?) for every runtime import (generated code
    left out); `from pkg import mod` names the module when `mod` is one of `top`'s."""
    files = {
        _module_name(p, source_root): p
        for p in (source_root / top).rglob("*.py")
        if not p.name.endswith(("_pb2.py", "_pb2_grpc.py"))
    }
    out: dict[str, list[tuple[str, bool]]] = {}
    for name, path in files.items():
        visitor = _Imports(name if path.name == "__init__.py" else name.rpartition(".")[0], set(files))
        visitor.visit(ast.parse(path.read_text()))
        out[name] = [(m, late) for m, late in visitor.found if m != name]
    return out


def _within(imports: dict[str, list[tuple[str, bool]]]) -> dict[str, list[tuple[str, bool]]]:
    """The graph of imports between the tree's own modules."""
    return {m: [(t, late) for t, late in found if t in imports] for m, found in imports.items()}


_SDK_IMPORTS = _runtime_imports(ROOT / "sdk", "motet")
_SERVICES_IMPORTS = _runtime_imports(ROOT / "services", "motet_server")
SDK, SERVICES = _within(_SDK_IMPORTS), _within(_SERVICES_IMPORTS)
# Module -> every module name it imports at run time (any package), for the boundary rules.
SDK_ANY = {m: {t for t, _ in found} for m, found in _SDK_IMPORTS.items()}
SERVICES_ANY = {m: {t for t, _ in found} for m, found in _SERVICES_IMPORTS.items()}


def _cycles(graph: dict[str, list[tuple[str, bool]]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w, _ in graph.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("graph", [SDK, SERVICES], ids=["sdk", "services"])
def test_there_is_no_import_cycle(graph: dict[str, list[tuple[str, bool]]]) -> None:
    assert _cycles(graph) == []


def test_the_sdk_imports_nothing_inside_functions() -> None:
    # A late import is how a cycle hides; the SDK's layers below make every import a top one.
    # `python -m motet` is the one exception: it hands over to the services' CLI when installed.
    late = [
        f"{m} imports {t} inside a function"
        for m, imports in SDK.items()
        if m != "motet.__main__"
        for t, is_late in imports
        if is_late
    ]
    assert late == []


# The SDK's layers, lowest first. A module may import modules of its own layer or lower
# layers only; `motet.canvas.kinds` is how the rules in layer 6 reach the kinds in layer 8.
SDK_LAYERS: list[set[str]] = [
    {"motet.v1", "motet.exceptions", "motet.settings", "motet.tracing"},
    {"motet.state", "motet.graph", "motet.payload", "motet.failures", "motet.channels"},
    {"motet.client"},
    {"motet.control", "motet.result"},
    {"motet.canvas.kinds"},
    {"motet.canvas.validate"},
    {"motet.canvas.compose", "motet.canvas.freeze", "motet.canvas.compile"},
    {"motet.canvas.signature"},
    {
        "motet.canvas.composite",
        "motet.canvas.group",
        "motet.canvas.chain",
        "motet.canvas.chord",
        "motet.canvas.mapping",
    },
    {"motet.canvas"},
    {"motet.task"},
    {"motet.app"},
    {"motet", "motet.__main__"},
]


def _layer(module: str) -> int:
    for i, layer in enumerate(SDK_LAYERS):
        if module in layer or any(module.startswith(m + ".") for m in layer if m == "motet.v1"):
            return i
    raise AssertionError(f"{module} has no layer in SDK_LAYERS: add it where it belongs")


def test_every_sdk_module_has_a_layer() -> None:
    for module in SDK:
        _layer(module)


def test_sdk_modules_import_only_their_layer_or_lower() -> None:
    upward = [
        f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
        for m, imports in SDK.items()
        if m != "motet"
        for t, _ in imports
        if not m.startswith(t + ".") and _layer(t) > _layer(m)
    ]
    assert upward == []


def test_the_sdk_never_imports_the_services() -> None:
    # `python -m motet` is the one bridge: it hands over to the `motet` command when installed.
    offenders = [
        f"{m} imports {n}"
        for m, names in SDK_ANY.items()
        if m != "motet.__main__"
        for n in names
        if n.startswith("motet_server")
    ]
    assert offenders == []


def test_only_the_store_talks_to_etcd() -> None:
    offenders = [
        f"{m} imports {n}"
        for m, names in SERVICES_ANY.items()
        if not m.startswith("motet_server.store")
        for n in names
        if n.startswith("motet_server.etcd")
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "where,forbidden",
    [
        ("motet_server.worker", "motet_server.store"),
        ("motet_server.worker", "motet_server.scheduler"),
        ("motet_server.scheduler", "motet_server.results"),
        ("motet_server.results", "motet_server.scheduler"),
        ("motet_server.store", "motet_server.scheduler"),
        ("motet_server.store", "motet_server.results"),
    ],
)
def test_layer_boundaries(where: str, forbidden: str) -> None:
    offenders = [
        f"{m} imports {n}"
        for m, names in SERVICES_ANY.items()
        if m.startswith(where + ".") or m == where
        for n in names
        if n.startswith(forbidden)
    ]
    assert offenders == []


def test_within_the_store_only_the_client_facade_loads_the_etcd_code() -> None:
    # store.kv's values stay plain dataclasses, so pure code can use them without gRPC.
    offenders = [
        f"{m} imports {n}"
        for m, names in SERVICES_ANY.items()
        if m.startswith("motet_server.store") and m != "motet_server.store.etcd"
        for n in names
        if n.startswith("motet_server.etcd")
    ]
    assert offenders == []


def test_the_packages_never_import_the_benchmarks_or_examples() -> None:
    # bench/ and examples/ live beside the packages and are not installed: an import would break
    # at run time in an installed package.
    offenders = [
        f"{m} imports {n}"
        for modules in (SDK_ANY, SERVICES_ANY)
        for m, names in modules.items()
        for n in names
        if n.split(".")[0] in ("bench", "examples")
    ]
    assert offenders == []


def test_outgoing_channels_come_from_the_one_factory_of_each_side() -> None:
    # motet/channels.py (SDK) and motet_server/rpc/channels.py (services) decide message size,
    # keepalive and (later) TLS for every outgoing channel.
    factories = {ROOT / "sdk" / "motet" / "channels.py", ROOT / "services" / "motet_server" / "rpc" / "channels.py"}
    offenders = []
    for top in (ROOT / "sdk" / "motet", ROOT / "services" / "motet_server"):
        for path in top.rglob("*.py"):
            if path.name.endswith(("_pb2.py", "_pb2_grpc.py")) or path in factories:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in ("insecure_channel", "secure_channel"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} opens a channel itself")
    assert offenders == []
