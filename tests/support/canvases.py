"""Canvases built directly as protobuf (no SDK), for store-level tests."""

from __future__ import annotations

import json
import uuid

from motet.v1 import canvas_pb2, common_pb2


def payload(value: object) -> common_pb2.Payload:
    return common_pb2.Payload(encoding="json", data=json.dumps(value).encode())


def sig(name: str, *args: object, task_id: str | None = None, **opts: object) -> canvas_pb2.Canvas:
    options = canvas_pb2.Options(task_id=task_id or str(uuid.uuid4()), **opts)
    return canvas_pb2.Canvas(signature=canvas_pb2.Signature(task=name, args=payload(list(args)), options=options))


def chain(*steps: canvas_pb2.Canvas) -> canvas_pb2.Canvas:
    return canvas_pb2.Canvas(chain=canvas_pb2.Chain(tasks=steps))


def group(*members: canvas_pb2.Canvas, group_id: str | None = None) -> canvas_pb2.Canvas:
    return canvas_pb2.Canvas(
        group=canvas_pb2.Group(tasks=members, options=canvas_pb2.Options(task_id=group_id or str(uuid.uuid4())))
    )


def chord(header: list[canvas_pb2.Canvas], body: canvas_pb2.Canvas, group_id: str | None = None) -> canvas_pb2.Canvas:
    return canvas_pb2.Canvas(
        chord=canvas_pb2.Chord(
            header=header, body=body, options=canvas_pb2.Options(group_id=group_id or str(uuid.uuid4()))
        )
    )
