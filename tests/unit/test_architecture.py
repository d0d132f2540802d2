"""The architecture's import rules (STYLE rule 10), checked on the source: no process, no network."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(package_dir: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in package_dir.rglob("*.py"):
        if path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        out[str(path.relative_to(ROOT))] = names
    return out


SDK = _imports(ROOT / "sdk" / "motet")
SERVICES = _imports(ROOT / "services" / "motet_server")


def _offenders(modules: dict[str, set[str]], where: str, forbidden: str) -> list[str]:
    return [f"{m} imports {n}" for m, names in modules.items() if where in m for n in names if n.startswith(forbidden)]


def test_the_sdk_never_imports_the_services() -> None:
    # `python -m motet` is the one bridge: it hands over to the `motet` command when installed.
    library = {m: names for m, names in SDK.items() if not m.endswith("motet/__main__.py")}
    assert _offenders(library, "sdk/", "motet_server") == []


def test_only_the_store_talks_to_etcd() -> None:
    offenders = [
        f"{m} imports {n}"
        for m, names in SERVICES.items()
        if "/store/" not in m
        for n in names
        if n.startswith("motet_server.etcd")
    ]
    assert offenders == []


def test_within_the_store_only_the_client_facade_loads_the_etcd_code() -> None:
    # store.kv's values stay plain dataclasses, so pure code can use them without gRPC.
    offenders = [
        f"{m} imports {n}"
        for m, names in SERVICES.items()
        if "/store/" in m and not m.endswith("store/etcd.py")
        for n in names
        if n.startswith("motet_server.etcd")
    ]
    assert offenders == []


def test_the_package_never_imports_the_benchmarks() -> None:
    # bench/ lives beside the package and is not installed: an import would break at runtime.
    assert _offenders(SERVICES, "services/", "bench") == []
    assert _offenders(SDK, "sdk/", "bench") == []


@pytest.mark.parametrize(
    "where,forbidden",
    [
        ("/worker/", "motet_server.store"),
        ("/worker/", "motet_server.scheduler"),
        ("/scheduler/", "motet_server.results"),
        ("/results/", "motet_server.scheduler"),
        ("/store/", "motet_server.scheduler"),
        ("/store/", "motet_server.results"),
    ],
)
def test_layer_boundaries(where: str, forbidden: str) -> None:
    assert _offenders(SERVICES, where, forbidden) == []


def _module_graph(package_dir: Path, package: str) -> dict[str, set[str]]:
    """Module name -> the package's modules it imports (``from a import b`` counts ``a.b``)."""
    graph: dict[str, set[str]] = {}
    for path in package_dir.rglob("*.py"):
        if path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
            continue
        parts = (package, *path.relative_to(package_dir).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                deps.add(node.module)
                deps.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = deps
    return {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        stack.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return cycles


def test_the_services_have_no_import_cycle() -> None:
    # A cycle (worker.main <-> worker.pool was one) forces imports inside functions and makes
    # import order matter; function-level imports count here too.
    graph = _module_graph(ROOT / "services" / "motet_server", "motet_server")
    assert [" -> ".join(c) for c in _cycles(graph)] == []


def test_outgoing_channels_come_from_the_one_factory() -> None:
    # rpc/channels.py decides message size, keepalive and (later) TLS for every service.
    offenders = []
    for path in (ROOT / "services" / "motet_server").rglob("*.py"):
        if path.name.endswith(("_pb2.py", "_pb2_grpc.py")) or path.match("rpc/channels.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("insecure_channel", "secure_channel"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} opens a channel itself")
    assert offenders == []
