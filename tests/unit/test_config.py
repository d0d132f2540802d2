"""One settings module per side: the defaults and limits are written once, not repeated."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from motet import settings
from motet_server import config

ROOT = Path(__file__).resolve().parents[2]

# The settings modules, where these values belong.
HOMES = {ROOT / "sdk" / "motet" / "settings.py", ROOT / "services" / "motet_server" / "config.py"}
VALUES = {
    7410: "a default port",
    7411: "a default port",
    64 * 1024 * 1024: "the message size",
    1 << 20: "the payload limit",
    "celery": "the default queue name",
}
EXPRESSIONS = {"64 * 1024 * 1024": "the message size", "1 << 20": "the payload limit"}
NAMES = {"MAX_DEPTH", "MAX_PAYLOAD_BYTES", "MAX_MESSAGE_BYTES", "DEFAULT_QUEUE"}


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            for i, stmt in enumerate(body):
                # A docstring, or an attribute docstring right after an assignment.
                if (
                    isinstance(stmt, ast.Expr)
                    and isinstance(stmt.value, ast.Constant)
                    and (i == 0 or isinstance(body[i - 1], (ast.Assign, ast.AnnAssign)))
                ):
                    out.add(id(stmt.value))
    return out


def _repeats(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and id(node) not in docs and not isinstance(node.value, bool):
            if node.value in VALUES:
                found.append(f"{where} writes {VALUES[node.value]} ({node.value!r})")
        elif isinstance(node, ast.BinOp) and ast.unparse(node) in EXPRESSIONS:
            found.append(f"{where} writes {EXPRESSIONS[ast.unparse(node)]}")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [f"{where} defines {t.id}" for t in targets if isinstance(t, ast.Name) and t.id in NAMES]
    return found


def test_a_default_or_limit_is_written_only_in_a_settings_module() -> None:
    offenders = []
    for top in (ROOT / "sdk" / "motet", ROOT / "services" / "motet_server"):
        for path in sorted(top.rglob("*.py")):
            if path not in HOMES and not path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
                offenders += _repeats(path)
    assert offenders == []


def test_the_services_take_the_shared_limits_from_the_sdk() -> None:
    # A canvas the SDK accepts must not be refused by the scheduler, nor the reverse.
    shared = ("MAX_DEPTH", "MAX_PAYLOAD_BYTES", "MAX_MESSAGE_BYTES", "DEFAULT_QUEUE", "DEFAULT_SCHEDULER")
    assert {n: getattr(config, n) for n in shared} == {n: getattr(settings, n) for n in shared}


def test_result_expiry_comes_from_the_environment_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOTET_RESULT_EXPIRES", raising=False)
    assert config.result_expires() == config.DEFAULT_RESULT_EXPIRES == 86_400
    monkeypatch.setenv("MOTET_RESULT_EXPIRES", "120")
    assert config.result_expires() == 120
    for bad in ("0", "-5", "1.5", "soon"):
        monkeypatch.setenv("MOTET_RESULT_EXPIRES", bad)
        with pytest.raises(ValueError, match="MOTET_RESULT_EXPIRES must be a whole number of seconds"):
            config.result_expires()
