"""Triton's example models that Ferry computes itself (platform "builtin"): simple_int8,
simple_string and simple_identity, over HTTP (JSON and binary) and gRPC, as Triton's
example clients call them, with every bad input answered by a 400 naming it."""

import json
import shutil
import struct
import unittest
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:
    import grpc
except ImportError:  # stubs() skips the tests with the package to install
    grpc = None

from server import MODELS, output
from test_grpc import GrpcTestCase, decode_bytes_tensor

BUILTIN_MODELS = ("simple_int8", "simple_string", "simple_identity")


def encode_bytes(items) -> bytes:
    out = b""
    for item in items:
        data = item.encode() if isinstance(item, str) else item
        out += struct.pack("<I", len(data)) + data
    return out


class TritonExampleModelsTest(GrpcTestCase):
    """One server with the three builtin example models beside `simple`."""

    @classmethod
    def build_repository(cls, repo):
        for name in BUILTIN_MODELS + ("simple",):
            shutil.copytree(MODELS / name, repo / name)

    @classmethod
    def required_models(cls):
        return ("simple",)

    # ---- simple_int8 ----
    def int8_body(self, a, b):
        return {"inputs": [
            {"name": "INPUT0", "shape": [len(a) // 16, 16], "datatype": "INT8", "data": list(a)},
            {"name": "INPUT1", "shape": [len(b) // 16, 16], "datatype": "INT8", "data": list(b)}]}

    def test_int8_http_sum_and_difference_wrap_around(self):
        a = list(range(-8, 8)) + [127] * 8 + [-128] * 8
        b = [3] * 16 + [1] * 8 + [1] * 8
        body = self.assertOk(self.infer("simple_int8", self.int8_body(a, b)))
        want_sum = ((np.array(a, dtype=np.int64) + b + 128) % 256 - 128).tolist()
        want_diff = ((np.array(a, dtype=np.int64) - b + 128) % 256 - 128).tolist()
        self.assertEqual(output(body, "OUTPUT0")["datatype"], "INT8")
        self.assertEqual(output(body, "OUTPUT0")["shape"], [2, 16])
        self.assertEqual(output(body, "OUTPUT0")["data"], want_sum)
        self.assertEqual(output(body, "OUTPUT1")["data"], want_diff)

    def test_int8_grpc_raw_contents(self):
        a = np.arange(16, dtype=np.int8)
        b = np.full(16, -2, dtype=np.int8)
        req = self.pb.ModelInferRequest(model_name="simple_int8")
        for name, values in (("INPUT0", a), ("INPUT1", b)):
            req.inputs.add(name=name, datatype="INT8", shape=[1, 16])
            req.raw_input_contents.append(values.tobytes())
        resp = self.stub.ModelInfer(req, timeout=30)
        np.testing.assert_array_equal(self.output_array(resp, "OUTPUT0", "i1")[0], a + b)
        np.testing.assert_array_equal(self.output_array(resp, "OUTPUT1", "i1")[0], a - b)

    def test_int8_out_of_range_values_are_400(self):
        r = self.infer("simple_int8", self.int8_body([200] + [0] * 15, [0] * 16))
        self.assertError(r, 400, mentions=["INPUT0"])

    # ---- simple_string ----
    def string_body(self, a, b, binary=False):
        return {"inputs": [
            {"name": "INPUT0", "shape": [len(a) // 16, 16], "datatype": "BYTES", "data": a},
            {"name": "INPUT1", "shape": [len(b) // 16, 16], "datatype": "BYTES", "data": b}]}

    def test_string_http_as_the_triton_client_sends_it(self):
        # simple_http_string_infer_client.py: INPUT0 = str(0..15), INPUT1 = str(1) * 16.
        a = [str(i) for i in range(16)]
        b = ["1"] * 16
        body = self.assertOk(self.infer("simple_string", self.string_body(a, b)))
        self.assertEqual(output(body, "OUTPUT0")["datatype"], "BYTES")
        self.assertEqual(output(body, "OUTPUT0")["data"], [str(i + 1) for i in range(16)])
        self.assertEqual(output(body, "OUTPUT1")["data"], [str(i - 1) for i in range(16)])

    def test_string_http_binary(self):
        a = [str(-i * 1000) for i in range(16)]
        b = [str(i * i) for i in range(16)]
        raw = encode_bytes(a) + encode_bytes(b)
        header = json.dumps({
            "inputs": [
                {"name": "INPUT0", "shape": [1, 16], "datatype": "BYTES",
                 "parameters": {"binary_data_size": len(encode_bytes(a))}},
                {"name": "INPUT1", "shape": [1, 16], "datatype": "BYTES",
                 "parameters": {"binary_data_size": len(encode_bytes(b))}}],
            "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": False}},
                        {"name": "OUTPUT1", "parameters": {"binary_data": False}}]}).encode()
        r = self.post("/v2/models/simple_string/infer", data=header + raw,
                      headers={"Inference-Header-Content-Length": str(len(header)),
                               "Content-Type": "application/octet-stream"})
        body = self.assertOk(r)
        self.assertEqual(output(body, "OUTPUT0")["data"], [str(-i * 1000 + i * i) for i in range(16)])
        self.assertEqual(output(body, "OUTPUT1")["data"], [str(-i * 1000 - i * i) for i in range(16)])

    def test_string_grpc_typed_and_raw(self):
        a = [str(i) for i in range(16)]
        b = [str(100 - i) for i in range(16)]
        for raw in (False, True):
            with self.subTest(raw=raw):
                req = self.pb.ModelInferRequest(model_name="simple_string")
                for name, values in (("INPUT0", a), ("INPUT1", b)):
                    t = req.inputs.add(name=name, datatype="BYTES", shape=[1, 16])
                    if raw:
                        req.raw_input_contents.append(encode_bytes(values))
                    else:
                        t.contents.bytes_contents.extend(v.encode() for v in values)
                resp = self.stub.ModelInfer(req, timeout=30)
                names = [o.name for o in resp.outputs]
                sums = decode_bytes_tensor(resp.raw_output_contents[names.index("OUTPUT0")])
                diffs = decode_bytes_tensor(resp.raw_output_contents[names.index("OUTPUT1")])
                self.assertEqual(sums, [b"100"] * 16)
                self.assertEqual(diffs, [str(2 * i - 100).encode() for i in range(16)])

    def test_string_requests_batched_together_keep_their_own_answers(self):
        def one(k):
            a = [str(k * 100 + i) for i in range(16)]
            b = [str(k)] * 16
            body = self.assertOk(self.infer("simple_string", self.string_body(a, b)))
            return output(body, "OUTPUT0")["data"] == [str(k * 101 + i) for i in range(16)]

        with ThreadPoolExecutor(8) as pool:
            self.assertTrue(all(pool.map(one, range(64))))

    def test_string_bad_elements_are_400_naming_them(self):
        a = [str(i) for i in range(16)]
        bad = list(a)
        bad[5] = "five"
        self.assertError(self.infer("simple_string", self.string_body(bad, a)), 400,
                         mentions=["INPUT0", "element 5", "five", "decimal integer"])
        big = list(a)
        big[1] = str(2 ** 63 - 1)  # 1 + (2^63 - 1) does not fit
        self.assertError(self.infer("simple_string", self.string_body(a, big)), 400,
                         mentions=["element 1", "int64"])
        empty = list(a)
        empty[15] = ""
        self.assertError(self.infer("simple_string", self.string_body(a, empty)), 400,
                         mentions=["INPUT1", "element 15"])
        req = self.pb.ModelInferRequest(model_name="simple_string")
        for name, values in (("INPUT0", bad), ("INPUT1", a)):
            t = req.inputs.add(name=name, datatype="BYTES", shape=[1, 16])
            t.contents.bytes_contents.extend(v.encode() for v in values)
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             grpc.StatusCode.INVALID_ARGUMENT, mentions=["INPUT0", "element 5"])
        # The bad requests failed alone: the model still answers.
        self.test_string_http_as_the_triton_client_sends_it()

    # ---- simple_identity ----
    def test_identity_returns_its_input_unchanged(self):
        for data in (["a"], ["hello", "", "wörld"], [str(i) * i for i in range(40)]):
            with self.subTest(n=len(data)):
                body = self.assertOk(self.infer("simple_identity", {"inputs": [
                    {"name": "INPUT0", "shape": [1, len(data)], "datatype": "BYTES", "data": data}]}))
                out = output(body, "OUTPUT0")
                self.assertEqual((out["datatype"], out["shape"], out["data"]), ("BYTES", [1, len(data)], data))

    def test_identity_grpc_binary_bytes(self):
        items = [b"\x00\xff\x10", b"", b"plain"]
        req = self.pb.ModelInferRequest(model_name="simple_identity")
        req.inputs.add(name="INPUT0", datatype="BYTES", shape=[1, 3])
        req.raw_input_contents.append(encode_bytes(items))
        resp = self.stub.ModelInfer(req, timeout=30)
        self.assertEqual(list(resp.outputs[0].shape), [1, 3])
        self.assertEqual(decode_bytes_tensor(resp.raw_output_contents[0]), items)

    def test_identity_rows_of_different_widths_answer_concurrently(self):
        def one(k):
            data = [f"{k}-{i}" for i in range(1 + k % 5)]
            body = self.assertOk(self.infer("simple_identity", {"inputs": [
                {"name": "INPUT0", "shape": [1, len(data)], "datatype": "BYTES", "data": data}]}))
            return output(body, "OUTPUT0")["data"] == data

        with ThreadPoolExecutor(8) as pool:
            self.assertTrue(all(pool.map(one, range(64))))

    def test_identity_wrong_datatype_is_400(self):
        r = self.infer("simple_identity", {"inputs": [
            {"name": "INPUT0", "shape": [1, 2], "datatype": "INT32", "data": [1, 2]}]})
        self.assertError(r, 400, mentions=["INPUT0", "BYTES"])

    # ---- metadata ----
    def test_metadata_says_builtin(self):
        for name, dtype in (("simple_int8", "INT8"), ("simple_string", "BYTES"),
                            ("simple_identity", "BYTES")):
            with self.subTest(model=name):
                meta = self.assertOk(self.get(f"/v2/models/{name}"))
                self.assertEqual(meta["platform"], "builtin")
                self.assertEqual({t["datatype"] for t in meta["inputs"] + meta["outputs"]}, {dtype})
                config = self.assertOk(self.get(f"/v2/models/{name}/config"))
                self.assertEqual(config["max_batch_size"], 8)


if __name__ == "__main__":
    unittest.main()
