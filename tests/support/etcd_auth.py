"""Turning on etcd's authentication for a test, through etcd's own Auth API (what `etcdctl user
add`, `role grant-permission` and `auth enable` do): a root user, and a user ``motet`` that may
read and write one namespace's keys only."""

from __future__ import annotations

from motet_server.etcd import auth_pb2, rpc_pb2, rpc_pb2_grpc
from motet_server.store.etcd import Etcd, EtcdAccess
from motet_server.store.kv import prefix_end

__all__ = ["PASSWORD", "PREFIX", "enable_auth"]

PASSWORD = "s3cret-etcd"
"""Both users' password."""

PREFIX = b"/motet/alpha/"
"""The keys user ``motet`` may read and write: namespace ``alpha``'s."""


async def enable_auth(endpoint: str, access: EtcdAccess) -> None:
    """Adds root and motet (read-write on `PREFIX`), then enables authentication."""
    async with await Etcd.connect(endpoint, access=access) as etcd:
        stub = rpc_pb2_grpc.AuthStub(etcd._channel)  # noqa: SLF001 - setup through the same channel
        await stub.UserAdd(rpc_pb2.AuthUserAddRequest(name="root", password=PASSWORD))
        await stub.UserGrantRole(rpc_pb2.AuthUserGrantRoleRequest(user="root", role="root"))
        await stub.RoleAdd(rpc_pb2.AuthRoleAddRequest(name="motet"))
        permission = auth_pb2.Permission(
            permType=auth_pb2.Permission.READWRITE, key=PREFIX, range_end=prefix_end(PREFIX)
        )
        await stub.RoleGrantPermission(rpc_pb2.AuthRoleGrantPermissionRequest(name="motet", perm=permission))
        await stub.UserAdd(rpc_pb2.AuthUserAddRequest(name="motet", password=PASSWORD))
        await stub.UserGrantRole(rpc_pb2.AuthUserGrantRoleRequest(user="motet", role="motet"))
        await stub.AuthEnable(rpc_pb2.AuthEnableRequest())
