"""Generate Python code from protos/ (run by `make proto`; generated files are never edited).

The proto package path is the import path: protos/motet/v1 -> sdk/motet/v1 (import motet.v1),
protos/motet_server/** -> services/motet_server/** (import motet_server.v1, motet_server.etcd).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
TARGETS = {"motet": ROOT / "sdk", "motet_server": ROOT / "services"}
PROTOCOL_DOCS = ROOT / "services" / "motet_server" / "rpc" / "protocol.binpb"
"""motet.v1 as a FileDescriptorSet with comments (read by `motet_server.rpc.server`)."""


def _plugin(name: str) -> str:
    """The path of a protoc plugin installed next to this interpreter (mypy-protobuf's)."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: install the dev extras (pip install -e '.[dev]')")
    return found


def main() -> int:
    include = Path(grpc_tools.__file__).parent / "_proto"
    for top, out in TARGETS.items():
        files = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / top).rglob("*.proto"))
        if not files:
            continue
        args = [
            "protoc",
            f"-I{PROTOS}",
            f"-I{include}",
            f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
            f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            # Typed stubs (mypy-protobuf), so types flow from the generated code into ours.
            f"--mypy_out={out}",
            f"--mypy_grpc_out={out}",
            *files,
        ]
        if protoc.main(args) != 0:
            print(f"protoc failed for {top}", file=sys.stderr)
            return 1
        if top == "motet":
            # The public protocol with its comments, for server reflection (`grpcurl describe`
            # shows the documentation): generated _pb2 modules carry no source info.
            docs = [
                "protoc",
                f"-I{PROTOS}",
                f"-I{include}",
                "--include_source_info",
                "--include_imports",
                f"--descriptor_set_out={PROTOCOL_DOCS}",
                *files,
            ]
            if protoc.main(docs) != 0:
                print("protoc failed writing the protocol descriptor set", file=sys.stderr)
                return 1
        for f in files:
            pkg = out / Path(f).parent
            (pkg / "__init__.py").touch(exist_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
