"""Triton's model configuration, logging and trace extensions end to end: each bundled
model's configuration (a cascade's too) over HTTP (`requests`) and gRPC (stubs from src/api/grpc/*.proto)
against its config.toml; the two transports give the same object; log settings changed over
one are seen over the other; tracing reports OFF; CUDA shared memory is refused."""

import shutil
import unittest
from pathlib import Path

try:
    import grpc
except ImportError:  # stubs() skips the tests with the package to install
    grpc = None

from server import MODELS, model_config
from test_grpc import GrpcTestCase

MODELS_UNDER_TEST = ("simple", "fashion_cnn", "fashion_xgb", "fashion_ensemble", "fashion_cascade")
# The composites' members beside the models checked.
REPOSITORY = MODELS_UNDER_TEST + ("fashion_mlp",)
PLATFORMS = {"torchscript": ("pytorch_libtorch", "pytorch"), "xgboost": ("xgboost", "xgboost"),
             "ensemble": ("ensemble", ""), "cascade": ("ensemble", "")}
INT64_KEYS = ("dims", "model_version", "max_queue_delay_microseconds")


def numbers_from_strings(value):
    """proto3 JSON writes 64-bit integers as strings; Triton's HTTP JSON as numbers."""
    if isinstance(value, dict):
        return {k: ([int(x) for x in v] if isinstance(v, list) else int(v))
                if k in INT64_KEYS else numbers_from_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers_from_strings(v) for v in value]
    return value


def message_to_dict(message) -> dict:
    from google.protobuf.json_format import MessageToDict
    try:
        d = MessageToDict(message, preserving_proto_field_name=True,
                          including_default_value_fields=True)
    except TypeError:  # protobuf >= 5 renamed the option
        d = MessageToDict(message, preserving_proto_field_name=True,
                          always_print_fields_with_no_presence=True)
    return numbers_from_strings(d)


class ModelConfigTest(GrpcTestCase):
    @classmethod
    def required_models(cls):
        return ("fashion_cnn", "fashion_mlp", "simple")

    @classmethod
    def build_repository(cls, repo: Path) -> None:
        for name in REPOSITORY:
            shutil.copytree(MODELS / name, repo / name)

    def http_config(self, model: str, version: str = "") -> dict:
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/config"
        return self.assertOk(self.get(path))

    def grpc_config(self, model: str, version: str = ""):
        return self.stub.ModelConfig(self.pb.ModelConfigRequest(name=model, version=version),
                                     timeout=30).config

    def test_config_matches_config_toml(self):
        for name in MODELS_UNDER_TEST:
            with self.subTest(model=name):
                toml = model_config(name)
                got = self.http_config(name)
                self.assertEqual(got["name"], name)
                self.assertEqual((got["platform"], got["backend"]), PLATFORMS[toml["platform"]])
                self.assertEqual(got["max_batch_size"], toml.get("max_batch_size", 8))
                self.assertEqual(got["version_policy"], {"all": {}})
                for kind, key in (("inputs", "input"), ("outputs", "output")):
                    declared = toml[kind]
                    # A calibrated version adds its uncertainty outputs after the declared ones.
                    self.assertEqual([t["name"] for t in got[key][:len(declared)]],
                                     [t["name"] for t in declared])
                    for want, have in zip(declared, got[key]):
                        self.assertEqual(have["data_type"], "TYPE_" + want["datatype"])
                        self.assertEqual(have["dims"], want["shape"][1:], "no batch dimension")
                metadata = self.assertOk(self.get(f"/v2/models/{name}"))
                self.assertEqual([t["name"] for t in got["output"]],
                                 [t["name"] for t in metadata["outputs"]])
                for out in got["output"]:
                    labelled = "labels" in toml and out["dims"] == [10]
                    self.assertEqual(out["label_filename"], "labels.txt" if labelled else "",
                                     out["name"])
                self.assertEqual(got["parameters"]["ferry_platform"],
                                 {"string_value": toml["platform"]})
                batching = toml.get("batching", {})
                execution = toml.get("execution", {})
                if toml["platform"] in ("ensemble", "cascade"):
                    self.assertNotIn("dynamic_batching", got)
                    self.assertEqual(got["instance_group"], [])
                    steps = got["ensemble_scheduling"]["step"]
                    composite = toml[toml["platform"]]
                    self.assertEqual([s["model_name"] for s in steps],
                                     composite.get("members", composite.get("stages")))
                    for step in steps:
                        self.assertEqual(step["model_version"], -1)
                        self.assertEqual(step["input_map"], {"image": "image"})
                else:
                    self.assertNotIn("ensemble_scheduling", got)
                    self.assertEqual(got["dynamic_batching"], {
                        "preferred_batch_size": batching.get("preferred_batch_sizes", []),
                        "max_queue_delay_microseconds": batching.get("max_queue_delay_us", 100),
                        "default_queue_policy": {
                            "max_queue_size": batching.get("max_queue_size", 1024)}})
                    self.assertEqual(got["instance_group"], [
                        {"name": name, "kind": "KIND_CPU", "count": execution.get("workers", 1)}])

    def test_grpc_gives_the_same_config_as_http(self):
        for name in MODELS_UNDER_TEST:
            for version in ("", "1"):
                with self.subTest(model=name, version=version):
                    http = self.http_config(name, version)
                    config = self.grpc_config(name, version)
                    self.assertEqual(message_to_dict(config), http)
                    self.assertEqual(config.input[0].data_type,
                                     self.pb.DataType.Value(http["input"][0]["data_type"]))

    def test_config_errors(self):
        self.assertError(self.get("/v2/models/nope/config"), 404, mentions=["nope"])
        self.assertError(self.get("/v2/models/simple/versions/9/config"), 404,
                         mentions=["version 9 is not found"])
        self.assertError(self.get("/v2/models/simple/versions/abc/config"), 404,
                         mentions=["no version alias 'abc'"])
        self.assertError(self.get("/v2/models/simple/versions/1.5/config"), 400,
                         mentions=["1.5"])
        self.assertError(self.post("/v2/models/simple/config", body={}), 405)
        self.assertGrpcError(lambda: self.grpc_config("nope"), grpc.StatusCode.NOT_FOUND,
                             mentions=["nope"])
        self.assertGrpcError(lambda: self.grpc_config("simple", "9"), grpc.StatusCode.NOT_FOUND,
                             mentions=["version 9 is not found"])
        self.assertGrpcError(lambda: self.grpc_config("simple", "abc"),
                             grpc.StatusCode.NOT_FOUND, mentions=["no version alias 'abc'"])
        self.assertGrpcError(lambda: self.grpc_config("simple", "Abc"),
                             grpc.StatusCode.INVALID_ARGUMENT, mentions=["Abc"])
        self.assertGrpcError(lambda: self.grpc_config(""), grpc.StatusCode.INVALID_ARGUMENT,
                             mentions=["model name"])

    def grpc_log_settings(self, **settings) -> dict:
        req = self.pb.LogSettingsRequest()
        for key, value in settings.items():
            field = {bool: "bool_param", int: "uint32_param", str: "string_param"}[type(value)]
            setattr(req.settings[key], field, value)
        resp = self.stub.LogSettings(req, timeout=10)
        return {k: getattr(v, v.WhichOneof("parameter_choice")) for k, v in resp.settings.items()}

    def test_log_settings_round_trip_over_both_transports(self):
        info = {"log_file": "", "log_info": True, "log_warnings": True, "log_errors": True,
                "log_verbose_level": 0, "log_format": "default"}
        try:
            self.assertEqual(self.assertOk(self.get("/v2/logging")), info)
            self.assertEqual(self.grpc_log_settings(), info)
            verbose = self.assertOk(self.post("/v2/logging", body={"log_verbose_level": 1}))
            self.assertEqual(verbose, dict(info, log_verbose_level=1))
            self.assertEqual(self.grpc_log_settings(), verbose, "gRPC sees what HTTP set")
            self.assertIn("log settings changed by a client: level debug", self.server.log())
            warn = self.grpc_log_settings(log_verbose_level=0, log_info=False)
            self.assertEqual(warn, dict(info, log_info=False))
            self.assertEqual(self.assertOk(self.get("/v2/logging")), warn, "HTTP sees gRPC's")
            iso = self.assertOk(self.post("/v2/logging", body={"log_format": "ISO8601"}))
            self.assertEqual(iso["log_format"], "ISO8601")
            self.assertRegex(self.server.log(), r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \[")
            # Refused: nothing changes.
            self.assertError(self.post("/v2/logging", body={"log_info": "yes"}), 400,
                             mentions=["log_info", "boolean"])
            self.assertError(self.post("/v2/logging", body={"log_file": "/tmp/x.log"}), 400,
                             mentions=["log_file"])
            self.assertError(self.post("/v2/logging", body={"log_warning": False}), 400,
                             mentions=["unknown log setting 'log_warning'"])
            self.assertError(self.post("/v2/logging", data="{"), 400, mentions=["JSON"])
            self.assertGrpcError(lambda: self.grpc_log_settings(log_level="debug"),
                                 grpc.StatusCode.INVALID_ARGUMENT, mentions=["log_level"])
            self.assertGrpcError(lambda: self.grpc_log_settings(log_errors=False),
                                 grpc.StatusCode.INVALID_ARGUMENT, mentions=["log_errors"])
            self.assertEqual(self.assertOk(self.get("/v2/logging")), dict(iso))
        finally:
            self.post("/v2/logging", body={"log_info": True, "log_verbose_level": 0,
                                           "log_format": "default"})
        self.assertEqual(self.assertOk(self.get("/v2/logging")), info)
        self.assertGrpcAnswers()

    def test_trace_is_off_over_both_transports(self):
        off = {"trace_level": ["OFF"]}
        self.assertEqual(self.assertOk(self.get("/v2/trace/setting")), off)
        self.assertEqual(self.assertOk(self.get("/v2/models/simple/trace/setting")), off)
        self.assertEqual(self.assertOk(self.post("/v2/trace/setting",
                                                 body={"trace_level": ["OFF"]})), off)
        self.assertError(self.post("/v2/trace/setting", body={"trace_level": ["TIMESTAMPS"]}),
                         400, mentions=["does not trace"])
        self.assertError(self.get("/v2/models/nope/trace/setting"), 404, mentions=["nope"])
        resp = self.stub.TraceSetting(self.pb.TraceSettingRequest(), timeout=10)
        self.assertEqual({k: list(v.value) for k, v in resp.settings.items()}, off)
        req = self.pb.TraceSettingRequest(model_name="simple")
        req.settings["trace_level"].value.append("TENSORS")
        self.assertGrpcError(lambda: self.stub.TraceSetting(req, timeout=10),
                             grpc.StatusCode.INVALID_ARGUMENT, mentions=["trace_level"])

    def test_cuda_shared_memory_is_refused(self):
        calls = (
            lambda: self.stub.CudaSharedMemoryStatus(
                self.pb.CudaSharedMemoryStatusRequest(), timeout=10),
            lambda: self.stub.CudaSharedMemoryRegister(
                self.pb.CudaSharedMemoryRegisterRequest(name="r", byte_size=64), timeout=10),
            lambda: self.stub.CudaSharedMemoryUnregister(
                self.pb.CudaSharedMemoryUnregisterRequest(), timeout=10))
        for call in calls:
            self.assertGrpcError(call, grpc.StatusCode.FAILED_PRECONDITION,
                                 mentions=["CUDA shared memory is not supported"])
        # System shared memory is served (test_shared_memory.py).
        self.stub.SystemSharedMemoryStatus(self.pb.SystemSharedMemoryStatusRequest(), timeout=10)
        self.assertGrpcAnswers()


if __name__ == "__main__":
    unittest.main()
