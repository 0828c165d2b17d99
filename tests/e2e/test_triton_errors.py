"""Error texts that Triton's clients and scripts match: over HTTP (`requests`) and gRPC
(stubs from src/api/grpc/*.proto), each message starts with Triton's wording (docs/api.md
lists them) before Ferry's own detail."""

import json
import unittest

import numpy as np

try:
    import grpc
except ImportError:  # stubs() skips the tests with the package to install
    grpc = None

from server import simple_request
from test_grpc import GrpcTestCase


class TritonErrorTextTest(GrpcTestCase):
    models = ("simple",)

    def http_error(self, r, status: int) -> str:
        self.assertEqual(r.status_code, status, r.text[:300])
        return r.json()["error"]

    def test_http_texts(self):
        a = np.arange(16)
        one = simple_request(a, a)
        cases = []
        cases.append((self.infer("nope", one), 404, "Request for unknown model: 'nope' is not found"))
        cases.append((self.infer("simple", one, version="7"), 404,
                      "Request for unknown model: 'simple' version 7 is not found"))
        cases.append((self.get("/v2/models/simple/versions/7"), 404,
                      "Request for unknown model: 'simple' version 7 is not found"))
        missing = {"inputs": one["inputs"][:1]}
        cases.append((self.infer("simple", missing), 400,
                      "expected 2 inputs but got 1 inputs for model 'simple'"))
        extra = {"inputs": one["inputs"] + [dict(one["inputs"][0], name="INPUT9")]}
        cases.append((self.infer("simple", extra), 400,
                      "unexpected inference input 'INPUT9' for model 'simple'"))
        typed = json.loads(json.dumps(one))
        typed["inputs"][0]["datatype"] = "FP32"
        cases.append((self.infer("simple", typed), 400,
                      "inference input 'INPUT0' data-type is 'FP32', but model 'simple' expects 'INT32'"))
        shaped = json.loads(json.dumps(one))
        for tensor in shaped["inputs"]:
            tensor["shape"] = [2, 8]
        cases.append((self.infer("simple", shaped), 400,
                      "unexpected shape for input 'INPUT0' for model 'simple'. Expected [-1,16], got [2,8]"))
        big = simple_request(np.zeros((9, 16)), np.zeros((9, 16)))
        cases.append((self.infer("simple", big), 400,
                      "inference request batch-size must be <= 8 for 'simple'"))
        out = dict(one, outputs=[{"name": "OUTPUT7"}])
        cases.append((self.infer("simple", out), 400,
                      "unexpected inference output 'OUTPUT7' for model 'simple'"))
        cases.append((self.post("/v2/repository/models/nope/load"), 404,
                      "failed to load 'nope', failed to poll from model repository"))
        for r, status, prefix in cases:
            with self.subTest(prefix=prefix):
                self.assertTrue(self.http_error(r, status).startswith(prefix), r.text[:300])

    def test_grpc_texts(self):
        def details(call, code) -> str:
            with self.assertRaises(grpc.RpcError) as ctx:
                call()
            self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
            return ctx.exception.details()

        req = self.simple_request(np.arange(16), np.ones(16), raw=True)
        req.model_name = "nope"
        self.assertTrue(details(lambda: self.stub.ModelInfer(req, timeout=30), grpc.StatusCode.NOT_FOUND)
                        .startswith("Request for unknown model: 'nope' is not found"))
        req = self.simple_request(np.arange(16), np.ones(16), raw=True)
        req.model_version = "7"
        self.assertTrue(details(lambda: self.stub.ModelInfer(req, timeout=30), grpc.StatusCode.NOT_FOUND)
                        .startswith("Request for unknown model: 'simple' version 7 is not found"))
        # Typed contents on one input while the request also carries raw contents.
        req = self.simple_request(np.arange(16), np.ones(16), raw=True)
        req.inputs[0].contents.int_contents.extend(range(16))
        self.assertTrue(details(lambda: self.stub.ModelInfer(req, timeout=30),
                                grpc.StatusCode.INVALID_ARGUMENT).startswith(
            "contents field must not be specified when using raw_input_contents for 'INPUT0' "
            "for model 'simple'"))
        req = self.simple_request(np.zeros((9, 16)), np.zeros((9, 16)), raw=True)
        self.assertTrue(details(lambda: self.stub.ModelInfer(req, timeout=30),
                                grpc.StatusCode.INVALID_ARGUMENT).startswith(
            "inference request batch-size must be <= 8 for 'simple'"))
        self.assertTrue(details(lambda: self.stub.RepositoryModelLoad(
            self.pb.RepositoryModelLoadRequest(model_name="nope"), timeout=60),
            grpc.StatusCode.NOT_FOUND).startswith(
            "failed to load 'nope', failed to poll from model repository"))


if __name__ == "__main__":
    unittest.main()
