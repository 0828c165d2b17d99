"""The repository extension's load with parameters, as Triton's clients send them: a
"config" override (Triton's model configuration as JSON) and "file:<version>/<name>"
artifacts, over HTTP (`requests`, base64 file bytes) and gRPC (string_param / bytes_param,
stubs from src/api/grpc/*.proto). Each bad parameter is a 400 / INVALID_ARGUMENT naming
it, and a refused or failed load leaves the repository folder and the serving version as
they were."""

import base64
import json
import unittest

import numpy as np

try:
    import grpc
except ImportError:  # stubs() skips the tests with the package to install
    grpc = None

from server import MODELS, copy_model, output, simple_request
from test_grpc import GrpcTestCase

SIMPLE_PT = MODELS / "simple" / "1" / "model.pt"


def folder_listing(path) -> dict:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


class LoadOverrideTest(GrpcTestCase):
    @classmethod
    def required_models(cls):
        return ("simple",)

    @classmethod
    def build_repository(cls, repo):
        for name in ("http_simple", "grpc_simple", "kept"):
            copy_model(repo, "simple", name)

    def load(self, model: str, parameters: dict):
        return self.post(f"/v2/repository/models/{model}/load", body={"parameters": parameters},
                         timeout=120)

    def config(self, model: str) -> dict:
        return self.assertOk(self.get(f"/v2/models/{model}/config"))

    def rows_ok(self, model: str, rows: int) -> bool:
        a = np.arange(16 * rows).reshape(rows, 16)
        r = self.infer(model, simple_request(a, a))
        return r.status_code == 200 and output(r.json(), "OUTPUT0")["data"] == (2 * a).reshape(-1).tolist()

    def new_model_config(self, name: str) -> dict:
        """simple's configuration as the extension shows it, renamed."""
        cfg = self.config("kept")
        cfg["name"] = name
        for key in ("instance_group",):  # names the source model's group; optional
            cfg.pop(key)
        return cfg

    def test_http_config_override_read_modify_load(self):
        cfg = self.config("http_simple")
        self.assertEqual(cfg["max_batch_size"], 8)
        self.assertTrue(self.rows_ok("http_simple", 8))
        cfg["max_batch_size"] = 4
        cfg["dynamic_batching"]["max_queue_delay_microseconds"] = 200
        self.assertOk(self.load("http_simple", {"config": json.dumps(cfg)}))
        now = self.config("http_simple")
        self.assertEqual(now["max_batch_size"], 4)
        self.assertEqual(now["dynamic_batching"]["max_queue_delay_microseconds"], 200)
        self.assertTrue(self.rows_ok("http_simple", 4))
        self.assertError(self.infer("http_simple", simple_request(np.zeros((5, 16)), np.zeros((5, 16)))),
                         400)
        # The override is the repository's config now: a plain load keeps it.
        self.assertOk(self.post("/v2/repository/models/http_simple/load"))
        self.assertEqual(self.config("http_simple")["max_batch_size"], 4)

    def test_http_new_model_with_files(self):
        params = {"config": json.dumps(self.new_model_config("uploaded")),
                  "file:1/model.pt": base64.b64encode(SIMPLE_PT.read_bytes()).decode()}
        self.assertOk(self.load("uploaded", params))
        self.assertTrue(self.rows_ok("uploaded", 3))
        self.assertEqual((self._repo_dir / "uploaded" / "1" / "model.pt").read_bytes(),
                         SIMPLE_PT.read_bytes())
        self.assertEqual(self.config("uploaded")["name"], "uploaded")

    def test_http_bad_parameters_change_nothing(self):
        before = folder_listing(self._repo_dir / "kept")
        cfg = self.config("kept")
        pt = base64.b64encode(SIMPLE_PT.read_bytes()).decode()
        cases = [
            ({"config": json.dumps({"instance_group": [{"kind": "KIND_GPU"}]})},
             ["config.instance_group[0].kind", "KIND_GPU"]),
            ({"config": json.dumps({"max_batch_size": 0})}, ["config.max_batch_size"]),
            ({"config": json.dumps({"name": "other"})}, ["config.name", "other"]),
            ({"config": json.dumps({"backend": "onnxruntime"})}, ["config.backend", "onnxruntime"]),
            ({"config": json.dumps({"input": [{"name": "X", "data_type": "TYPE_FP99", "dims": [1]}]})},
             ["config.input[0].data_type", "TYPE_FP99"]),
            ({"config": json.dumps({"model_warmup": []})}, ["config.model_warmup"]),
            ({"config": "{not json"}, ["config", "JSON"]),
            ({"config": 3}, ["config", "string"]),
            ({"file:1/model.pt": pt}, ["'config' parameter"]),
            ({"config": json.dumps(cfg), "file:1/model.pt": "***"}, ["file:1/model.pt", "base64"]),
            ({"config": json.dumps(cfg), "file:../../x": pt}, ["../../x"]),
            ({"config": json.dumps(cfg), "file:model.pt": pt}, ["model.pt", "<version>/<file name>"]),
            ({"config": json.dumps(cfg), "file:1/config.toml": pt}, ["config.toml"]),
            ({"colour": "blue"}, ["unknown load parameter", "colour"]),
        ]
        for params, mentions in cases:
            with self.subTest(params=list(params)):
                self.assertError(self.load("kept", params), 400, mentions=mentions)
        self.assertError(self.load("not_there", {"config": json.dumps({"max_batch_size": 2})}), 404,
                         mentions=["not_there"])
        self.assertEqual(folder_listing(self._repo_dir / "kept"), before)
        self.assertFalse((self._repo_dir / "not_there").exists())
        self.assertTrue(self.rows_ok("kept", 8))

    def test_http_failed_load_puts_the_folder_back(self):
        before = folder_listing(self._repo_dir / "kept")
        params = {"config": json.dumps({"max_batch_size": 4}),
                  "file:2/model.pt": base64.b64encode(b"not a TorchScript file").decode()}
        self.assertError(self.load("kept", params), 400, mentions=["kept", "2"])
        self.assertEqual(folder_listing(self._repo_dir / "kept"), before)
        self.assertEqual(self.config("kept")["max_batch_size"], 8)
        self.assertTrue(self.rows_ok("kept", 8))
        leftovers = [p.name for p in self._repo_dir.iterdir() if p.name.startswith(".")]
        self.assertEqual(leftovers, [])

    def test_grpc_config_override_and_new_model(self):
        cfg = self.config("grpc_simple")
        cfg["max_batch_size"] = 2
        req = self.pb.RepositoryModelLoadRequest(model_name="grpc_simple")
        req.parameters["config"].string_param = json.dumps(cfg)
        self.stub.RepositoryModelLoad(req, timeout=120)
        got = self.stub.ModelConfig(self.pb.ModelConfigRequest(name="grpc_simple"), timeout=30)
        self.assertEqual(got.config.max_batch_size, 2)

        req = self.pb.RepositoryModelLoadRequest(model_name="grpc_uploaded")
        req.parameters["config"].string_param = json.dumps(self.new_model_config("grpc_uploaded"))
        req.parameters["file:1/model.pt"].bytes_param = SIMPLE_PT.read_bytes()
        self.stub.RepositoryModelLoad(req, timeout=120)
        self.assertTrue(self.rows_ok("grpc_uploaded", 2))

    def test_grpc_bad_parameters(self):
        def load(params: dict):
            req = self.pb.RepositoryModelLoadRequest(model_name="kept")
            for key, (kind, value) in params.items():
                setattr(req.parameters[key], kind, value)
            return lambda: self.stub.RepositoryModelLoad(req, timeout=60)
        self.assertGrpcError(load({"config": ("bytes_param", b"{}")}),
                             grpc.StatusCode.INVALID_ARGUMENT, ["config", "string_param"])
        self.assertGrpcError(load({"file:1/model.pt": ("string_param", "x")}),
                             grpc.StatusCode.INVALID_ARGUMENT, ["bytes_param"])
        self.assertGrpcError(load({"config": ("string_param", '{"max_batch_size": -1}')}),
                             grpc.StatusCode.INVALID_ARGUMENT, ["config.max_batch_size"])
        self.assertGrpcError(load({"file:1/model.pt": ("bytes_param", b"x")}),
                             grpc.StatusCode.INVALID_ARGUMENT, ["'config' parameter"])
        self.assertGrpcError(load({"colour": ("string_param", "blue")}),
                             grpc.StatusCode.INVALID_ARGUMENT, ["colour"])
        self.assertTrue(self.rows_ok("kept", 8))


if __name__ == "__main__":
    unittest.main()
