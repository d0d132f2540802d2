"""A canvas written by hand, read from a JSON (or YAML) file for `motet submit`.

Two spellings are accepted, mixed freely:

- the protobuf JSON mapping of `motet.v1.Canvas` (what grpcurl takes, docs/protocol.md): a
  payload is `{"encoding": "json", "data": "<base64>"}`; a whole `SubmitCanvasRequest`
  (`{"canvas": {...}}`, as docs/examples/chord.json) is accepted too;
- a friendlier one where `args`, `kwargs` and `items` are plain JSON values:
  `{"signature": {"task": "proj.add", "args": [2, 2]}}`.

An object with exactly the keys `encoding` and `data` is read as a payload; any other value is
plain JSON. YAML (same shapes) needs PyYAML installed (`pip install pyyaml`, in the `dev` extra).

Ids left empty are filled in here, as the scheduler fills them (`nodes.ensure_ids`), so the
caller knows every task id before it submits: what to wait for, and which groups to save.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from motet.v1 import canvas_pb2, common_pb2, results_pb2
from motet_server.cli.wait import Shape
from motet_server.scheduler import nodes

__all__ = ["CanvasFileError", "assign_ids", "groups", "load", "shape", "watched"]

_PAYLOAD_KEYS = frozenset({"encoding", "data"})


class CanvasFileError(ValueError):
    """The file cannot be read, or is not a canvas; the message says where and why."""


def _payload(value: Any) -> Any:
    """A payload field in protobuf JSON: kept when already one, else `value` as JSON."""
    if isinstance(value, dict) and set(value) == _PAYLOAD_KEYS:
        return value
    data = json.dumps(value, separators=(",", ":")).encode()
    return json_format.MessageToDict(common_pb2.Payload(encoding="json", data=data))


def _friendly_signature(sig: Any) -> Any:
    if not isinstance(sig, dict):
        return sig
    out = dict(sig)
    for key in ("args", "kwargs"):
        if key in out:
            out[key] = _payload(out[key])
    for key in ("options",):
        if isinstance(out.get(key), dict):
            out[key] = _friendly_options(out[key])
    return out


def _friendly_options(options: dict[str, Any]) -> dict[str, Any]:
    out = dict(options)
    for key in ("link", "link_error", "linkError"):
        if isinstance(out.get(key), list):
            out[key] = [_friendly(c) for c in out[key]]
    return out


def _friendly(node: Any) -> Any:
    """The protobuf JSON form of a canvas node written in either spelling."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    if "signature" in out:
        out["signature"] = _friendly_signature(out["signature"])
    for kind in ("chain", "group"):
        if isinstance(out.get(kind), dict):
            inner = dict(out[kind])
            if isinstance(inner.get("tasks"), list):
                inner["tasks"] = [_friendly(t) for t in inner["tasks"]]
            if isinstance(inner.get("options"), dict):
                inner["options"] = _friendly_options(inner["options"])
            out[kind] = inner
    if isinstance(out.get("chord"), dict):
        inner = dict(out["chord"])
        if isinstance(inner.get("header"), list):
            inner["header"] = [_friendly(t) for t in inner["header"]]
        if "body" in inner:
            inner["body"] = _friendly(inner["body"])
        if isinstance(inner.get("options"), dict):
            inner["options"] = _friendly_options(inner["options"])
        out["chord"] = inner
    for kind in ("map", "chunks"):
        if isinstance(out.get(kind), dict):
            inner = dict(out[kind])
            inner["task"] = _friendly_signature(inner.get("task"))
            if "items" in inner:
                inner["items"] = _payload(inner["items"])
            if isinstance(inner.get("options"), dict):
                inner["options"] = _friendly_options(inner["options"])
            out[kind] = inner
    return out


def _parse_text(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        json_error = f"{name}: not JSON (line {err.lineno} column {err.colno}: {err.msg})"
        meant_json = name.endswith(".json") or (not name.endswith((".yaml", ".yml")) and text.lstrip()[:1] in "{[")
        if meant_json:  # say what JSON found, not what YAML would
            raise CanvasFileError(json_error) from None
    try:
        yaml = importlib.import_module("yaml")
    except ImportError:
        raise CanvasFileError(json_error + "; YAML needs PyYAML (pip install pyyaml)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" (line {where.line + 1} column {where.column + 1})" if where is not None else ""
        problem = getattr(err, "problem", None) or "not YAML"
        raise CanvasFileError(f"{name}: neither JSON nor YAML{at}: {problem}") from None


def load(path: str, stdin_text: str | None = None) -> tuple[canvas_pb2.Canvas, str]:
    """The canvas in the file at `path` ("-": `stdin_text`), and the parent task id a whole
    SubmitCanvasRequest names ("" for none).

    Raises:
        CanvasFileError: the file is missing, is neither JSON nor YAML, or is not a canvas.
    """
    name = "standard input" if path == "-" else path
    if path == "-":
        text = stdin_text or ""
    else:
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise CanvasFileError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
    data = _parse_text(text, name)
    parent_id = ""
    if isinstance(data, dict) and set(data) <= {"canvas", "parent_id", "parentId"} and "canvas" in data:
        named = data.get("parent_id", data.get("parentId", ""))
        if not isinstance(named, str):
            raise CanvasFileError(f"{name}: parent_id is a task id (a string)")
        parent_id = named
        data = data["canvas"]  # a whole SubmitCanvasRequest, as grpcurl takes it
    if not isinstance(data, dict) or not data:
        raise CanvasFileError(f'{name}: a canvas is an object such as {{"signature": {{"task": ...}}}}')
    canvas = canvas_pb2.Canvas()
    try:
        json_format.ParseDict(_friendly(data), canvas)
    except json_format.ParseError as err:
        raise CanvasFileError(f"{name}: not a motet.v1.Canvas: {' '.join(str(err).split())}") from None
    if canvas.WhichOneof("kind") is None:
        raise CanvasFileError(f"{name}: the canvas names no node (signature, chain, group, chord, map or chunks)")
    return canvas, parent_id


def assign_ids(canvas: canvas_pb2.Canvas) -> None:
    """Fills every empty id as the scheduler would (`nodes.ensure_ids`: a task's, a group's, a
    chord header's, the chunks'), so the groups saved for `motet wait` carry the ids it uses.
    A canvas the scheduler will refuse (`nodes.validate`) is left as it is, for the scheduler to
    say which field is wrong."""
    if not nodes.validate(canvas):
        nodes.ensure_ids(canvas)


def shape(canvas: canvas_pb2.Canvas) -> Shape:
    """What the canvas's value is made of (after `assign_ids`): a chain's last step, a chord's
    body, a group's members (a group directly in a group spliced into its list)."""
    kind = canvas.WhichOneof("kind")
    if kind == "signature":
        return None if canvas.signature.options.ignore_result else canvas.signature.options.task_id
    if kind == "chain":
        return shape(canvas.chain.tasks[-1]) if canvas.chain.tasks else None
    if kind == "group":
        out: list[Any] = []
        for member in canvas.group.tasks:
            part = shape(member)
            if member.WhichOneof("kind") == "group" and isinstance(part, list):
                out.extend(part)
            else:
                out.append(part)
        return out
    if kind == "chord":
        return shape(canvas.chord.body)
    if kind == "map":
        return canvas.map.options.task_id
    if kind == "chunks":
        return list(canvas.chunks.member_ids)
    return None


def watched(canvas: canvas_pb2.Canvas) -> Iterator[str]:
    """Every task id of the canvas that will store a result (callbacks left out)."""
    kind = canvas.WhichOneof("kind")
    if kind == "signature":
        if not canvas.signature.options.ignore_result:
            yield canvas.signature.options.task_id
    elif kind in ("chain", "group"):
        for step in getattr(canvas, kind).tasks:
            yield from watched(step)
    elif kind == "chord":
        for member in canvas.chord.header:
            yield from watched(member)
        yield from watched(canvas.chord.body)
    elif kind == "map":
        yield canvas.map.options.task_id
    elif kind == "chunks":
        yield from canvas.chunks.member_ids


def groups(canvas: canvas_pb2.Canvas) -> Iterator[results_pb2.GroupRef]:
    """Every group of the canvas (groups, chord headers, chunks) with its members, to save."""
    kind = canvas.WhichOneof("kind")
    if kind in ("group", "chunks"):
        yield nodes.result_ref(canvas).group
    if kind in ("chain", "group"):
        for step in getattr(canvas, kind).tasks:
            yield from groups(step)
    elif kind == "chord":
        header = [nodes.result_ref(m) for m in nodes.spliced_members(canvas.chord.header)]
        yield results_pb2.GroupRef(group_id=canvas.chord.options.group_id, members=header)
        for member in canvas.chord.header:
            yield from groups(member)
        yield from groups(canvas.chord.body)
