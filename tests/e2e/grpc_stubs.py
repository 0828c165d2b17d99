"""Python stubs for Ferry's gRPC service, generated at test time from src/api/grpc/*.proto
with Debian's grpc_tools (python3-grpc-tools), so no generated code is committed.

    from grpc_stubs import stubs
    pb, pb_grpc, health_pb, health_grpc = stubs()

Generated once per process into a temp dir: protobuf's descriptor pool rejects a second
registration of the same .proto file, so the modules must be imported only once.
"""

import atexit
import importlib
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO_ROOT / "src" / "api" / "grpc"
PROTOS = ("inference.proto", "health.proto")

_MODULES = None


def stubs():
    """(inference_pb2, inference_pb2_grpc, health_pb2, health_pb2_grpc). Skips the calling
    test when grpcio or grpc_tools is missing (python3-grpcio, python3-grpc-tools)."""
    global _MODULES
    if _MODULES is not None:
        return _MODULES
    try:
        import grpc  # noqa: F401
        from grpc_tools import protoc
    except ImportError as e:
        raise unittest.SkipTest(f"gRPC for Python is missing ({e}); "
                                "install python3-grpcio and python3-grpc-tools")
    out = Path(tempfile.mkdtemp(prefix="ferry-grpc-stubs-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    args = ["grpc_tools.protoc", f"-I{PROTO_DIR}", f"--python_out={out}",
            f"--grpc_python_out={out}", *(str(PROTO_DIR / p) for p in PROTOS)]
    if protoc.main(args) != 0:
        raise AssertionError(f"protoc failed on {PROTOS} in {PROTO_DIR}")
    sys.path.insert(0, str(out))
    try:
        _MODULES = tuple(importlib.import_module(m) for m in (
            "inference_pb2", "inference_pb2_grpc", "health_pb2", "health_pb2_grpc"))
    finally:
        sys.path.remove(str(out))
    return _MODULES
