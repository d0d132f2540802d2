"""Reading a failed gRPC call in tests: its status code, and the ErrorInfo reason Motet sends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

__all__ = ["code_of", "reason"]


def reason(err: grpc.RpcError) -> str:
    """The `ErrorInfo.reason` of a failed call ("" when it carries none)."""
    status = rpc_status.from_call(err)  # type: ignore[arg-type]  # a failed call is one
    assert status is not None, f"the error carries no google.rpc.Status: {err}"
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


def code_of(call: Callable[[], Any]) -> grpc.StatusCode:
    """The status code `call()` ends with (OK when it returns)."""
    try:
        call()
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK
