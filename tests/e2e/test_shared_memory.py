"""The system shared memory extension end to end, as Triton's clients use it: a POSIX
shared-memory object made from Python (multiprocessing.shared_memory), registered over
HTTP (`requests`, and curl) and gRPC (stubs from src/api/grpc/*.proto), inputs read from
it and outputs written into it by the `simple` model (OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 =
INPUT0 - INPUT1, INT32 [1, 16]); every bad key, name, offset and size refused with a
message naming it; a region unregistered while requests use it; status and unregister."""

import json
import shutil
import subprocess
import threading
import unittest
from multiprocessing import shared_memory

import numpy as np

try:
    import grpc
except ImportError:  # stubs() skips the tests with the package to install
    grpc = None

from test_grpc import GrpcTestCase

TENSOR_BYTES = 64  # INT32 [1, 16]


class SharedMemoryTest(GrpcTestCase):
    models = ("simple",)

    def setUp(self):
        # One object of 4 tensors: INPUT0, INPUT1, OUTPUT0, OUTPUT1 at 0, 64, 128, 192.
        self.shm = shared_memory.SharedMemory(create=True, size=4 * TENSOR_BYTES)
        self.key = "/" + self.shm.name
        self.a = np.arange(16, dtype=np.int32).reshape(1, 16)
        self.b = np.full((1, 16), 3, dtype=np.int32)
        self.view = np.ndarray((4, 16), dtype=np.int32, buffer=self.shm.buf)
        self.view[0] = self.a
        self.view[1] = self.b
        self.view[2:] = -1

    def tearDown(self):
        self.assertOk(self.post("/v2/systemsharedmemory/unregister"))
        del self.view
        self.shm.close()
        self.shm.unlink()

    # -- helpers --
    def register(self, name: str, key: str = None, offset: int = 0, byte_size: int = None):
        body = {"key": key or self.key, "offset": offset,
                "byte_size": 4 * TENSOR_BYTES if byte_size is None else byte_size}
        return self.post(f"/v2/systemsharedmemory/region/{name}/register", body)

    def shm_input(self, name, region, offset, byte_size=TENSOR_BYTES):
        params = {"shared_memory_region": region, "shared_memory_byte_size": byte_size}
        if offset:
            params["shared_memory_offset"] = offset
        return {"name": name, "datatype": "INT32", "shape": [1, 16], "parameters": params}

    def shm_output(self, name, region, offset, byte_size=TENSOR_BYTES):
        return {"name": name, "parameters": {"shared_memory_region": region,
                                             "shared_memory_offset": offset,
                                             "shared_memory_byte_size": byte_size}}

    def shm_body(self, region="data"):
        return {"inputs": [self.shm_input("INPUT0", region, 0),
                           self.shm_input("INPUT1", region, TENSOR_BYTES)],
                "outputs": [self.shm_output("OUTPUT0", region, 2 * TENSOR_BYTES),
                            self.shm_output("OUTPUT1", region, 3 * TENSOR_BYTES)]}

    # -- HTTP --
    def test_http_inputs_and_outputs_through_shared_memory(self):
        self.assertOk(self.register("data"))
        status = self.assertOk(self.get("/v2/systemsharedmemory/region/data/status"))
        self.assertEqual(status, [{"name": "data", "key": self.key, "offset": 0,
                                   "byte_size": 4 * TENSOR_BYTES}])
        self.assertEqual(self.assertOk(self.get("/v2/systemsharedmemory/status")), status)
        out = self.assertOk(self.infer("simple", self.shm_body()))
        by_name = {o["name"]: o for o in out["outputs"]}
        for name, offset in (("OUTPUT0", 2 * TENSOR_BYTES), ("OUTPUT1", 3 * TENSOR_BYTES)):
            self.assertNotIn("data", by_name[name])
            self.assertEqual(by_name[name]["shape"], [1, 16])
            self.assertEqual(by_name[name]["parameters"],
                             {"shared_memory_region": "data", "shared_memory_offset": offset,
                              "shared_memory_byte_size": TENSOR_BYTES})
        np.testing.assert_array_equal(self.view[2], (self.a + self.b)[0])
        np.testing.assert_array_equal(self.view[3], (self.a - self.b)[0])

    def test_http_mixes_shared_memory_with_json_and_binary(self):
        # Two regions over one object; INPUT1 in JSON, OUTPUT1 in the body.
        self.assertOk(self.register("in", byte_size=2 * TENSOR_BYTES))
        self.assertOk(self.register("out", offset=2 * TENSOR_BYTES, byte_size=2 * TENSOR_BYTES))
        body = {"inputs": [self.shm_input("INPUT0", "in", 0),
                           {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16],
                            "data": [10] * 16}],
                "outputs": [self.shm_output("OUTPUT0", "out", TENSOR_BYTES),
                            {"name": "OUTPUT1"}]}
        out = self.assertOk(self.infer("simple", body))
        by_name = {o["name"]: o for o in out["outputs"]}
        self.assertEqual(by_name["OUTPUT1"]["data"], list(range(-10, 6)))
        self.assertEqual(by_name["OUTPUT0"]["parameters"]["shared_memory_offset"], TENSOR_BYTES)
        np.testing.assert_array_equal(self.view[3], np.arange(16) + 10)
        # The same with binary_data_output: the shared-memory output stays out of the body.
        r = self.infer("simple", dict(body, parameters={"binary_data_output": True}))
        self.assertEqual(r.status_code, 200, r.text[:300])
        header = json.loads(r.content[:int(r.headers["Inference-Header-Content-Length"])])
        self.assertEqual(len(r.content) - int(r.headers["Inference-Header-Content-Length"]),
                         TENSOR_BYTES)  # OUTPUT1's bytes only
        self.assertIn("shared_memory_region", header["outputs"][0]["parameters"])

    def test_http_bad_registrations_name_the_problem(self):
        size = 4 * TENSOR_BYTES
        self.assertError(self.register("r", key="/ferry_no_such_shm_key"), 400,
                         mentions=["/ferry_no_such_shm_key", "cannot open"])
        self.assertError(self.register("r", byte_size=size + 1), 400,
                         mentions=["past the end", str(size + 1), f"holds {size} bytes"])
        self.assertError(self.register("r", offset=size + 8, byte_size=4), 400,
                         mentions=[f"offset {size + 8}", "past the end"])
        self.assertError(self.register("r", byte_size=0), 400, mentions=["byte_size"])
        self.assertError(self.register("r", key="/a/b"), 400, mentions=["not a shared memory name"])
        self.assertError(self.post("/v2/systemsharedmemory/region/r/register",
                                   {"offset": 0, "byte_size": 4}), 400, mentions=["'key'"])
        self.assertError(self.post("/v2/systemsharedmemory/region/r/register",
                                   {"key": self.key, "offset": -1, "byte_size": 4}), 400,
                         mentions=["offset", "non-negative"])
        self.assertError(self.post("/v2/systemsharedmemory/region/r/register",
                                   {"key": self.key, "byte_size": "64"}), 400,
                         mentions=["byte_size", "a string"])
        self.assertError(self.post("/v2/systemsharedmemory/region/r/register", data="{"), 400,
                         mentions=["not valid JSON"])
        self.assertOk(self.register("r"))
        self.assertError(self.register("r"), 400, mentions=["'r' is already registered"])
        self.assertError(self.get("/v2/systemsharedmemory/region/zz/status"), 404,
                         mentions=["'zz' is not registered"])
        self.assertError(self.get("/v2/systemsharedmemory/region/r/register"), 405)
        self.assertError(self.post("/v2/systemsharedmemory/register", {}), 404)
        # Unregistering a name that is not registered is no error (as Triton).
        self.assertOk(self.post("/v2/systemsharedmemory/region/zz/unregister"))
        self.assertOk(self.post("/v2/systemsharedmemory/region/r/unregister"))
        self.assertEqual(self.assertOk(self.get("/v2/systemsharedmemory/status")), [])

    def test_http_bad_references_name_the_problem(self):
        self.assertOk(self.register("data"))
        end = 4 * TENSOR_BYTES

        def with_input0(**params):
            body = self.shm_body()
            body["inputs"][0]["parameters"].update(params)
            return body

        def with_output0(**params):
            body = self.shm_body()
            body["outputs"][0]["parameters"].update(params)
            return body

        cases = [
            (self.shm_body(region="nope"), ["input 'INPUT0'", "'nope' is not registered"]),
            (with_input0(shared_memory_offset=end - 32), ["input 'INPUT0'", "past the end",
                                                          "holds 256 bytes"]),
            (with_input0(shared_memory_offset=end + 4096), ["past the end"]),
            (with_input0(shared_memory_byte_size=60), ["'shared_memory_byte_size' is 60",
                                                       "needs 64 bytes"]),
            (with_input0(shared_memory_byte_size=68), ["is 68", "needs 64"]),
            (with_input0(shared_memory_offset=-4), ["shared_memory_offset", "non-negative"]),
            (with_input0(shared_memory_region=7), ["shared_memory_region", "must be a string"]),
            (with_output0(shared_memory_byte_size=32), ["output 'OUTPUT0' has 64 bytes",
                                                        "more than its 'shared_memory_byte_size' "
                                                        "of 32"]),
            (with_output0(shared_memory_offset=end - 8), ["output 'OUTPUT0'", "past the end"]),
            (with_output0(shared_memory_region="gone"), ["output 'OUTPUT0'",
                                                         "'gone' is not registered"]),
        ]
        for body, mentions in cases:
            with self.subTest(mentions=mentions):
                self.assertError(self.infer("simple", body), 400, mentions=mentions)
        # Data and a region for one input; offset or size without a region; no byte size.
        body = self.shm_body()
        body["inputs"][0]["data"] = list(range(16))
        self.assertError(self.infer("simple", body), 400,
                         mentions=["'data'", "shared_memory_region", "one place"])
        body = self.shm_body()
        del body["inputs"][0]["parameters"]["shared_memory_region"]
        self.assertError(self.infer("simple", body), 400,
                         mentions=["needs 'shared_memory_region'"])
        body = self.shm_body()
        del body["inputs"][1]["parameters"]["shared_memory_byte_size"]
        self.assertError(self.infer("simple", body), 400,
                         mentions=["input 'INPUT1'", "needs 'shared_memory_byte_size'"])
        # The failed requests wrote nothing, and a good one still works.
        self.assertTrue((self.view[2:] == -1).all())
        self.assertOk(self.infer("simple", self.shm_body()))
        np.testing.assert_array_equal(self.view[2], (self.a + self.b)[0])

    def test_unregister_while_requests_use_the_region(self):
        """Every request either runs on the region or is refused naming it; none crashes
        the server or reads unmapped memory."""
        outcomes = []
        stop = threading.Event()

        def client():
            import requests
            with requests.Session() as s:
                while not stop.is_set():
                    r = s.post(self.url("/v2/models/simple/infer"),
                               data=json.dumps(self.shm_body()), timeout=30)
                    outcomes.append((r.status_code, r.text))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for _ in range(40):
                self.assertOk(self.register("data"))
                self.assertOk(self.post("/v2/systemsharedmemory/region/data/unregister"))
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertTrue(outcomes)
        for status, text in outcomes:
            if status != 200:
                self.assertEqual(status, 400, text)
                self.assertIn("'data' is not registered", text)
        self.assertServerAnswers()

    def test_curl_registers_and_reads_status(self):
        curl = shutil.which("curl")
        if curl is None:
            self.skipTest("curl is not installed")
        reg = subprocess.run(
            [curl, "-s", "-w", "\n%{http_code}", "-X", "POST",
             "-H", "Content-Type: application/json",
             "-d", json.dumps({"key": self.key, "offset": 0, "byte_size": 128}),
             self.url("/v2/systemsharedmemory/region/curl_region/register")],
            capture_output=True, text=True, timeout=30, check=True)
        self.assertEqual(reg.stdout.rsplit("\n", 1)[-1], "200", reg.stdout)
        status = subprocess.run([curl, "-s", self.url("/v2/systemsharedmemory/status")],
                                capture_output=True, text=True, timeout=30, check=True)
        self.assertEqual(json.loads(status.stdout),
                         [{"name": "curl_region", "key": self.key, "offset": 0,
                           "byte_size": 128}])

    def test_server_metadata_lists_the_extension(self):
        self.assertIn("system_shared_memory", self.assertOk(self.get("/v2"))["extensions"])
        meta = self.stub.ServerMetadata(self.pb.ServerMetadataRequest(), timeout=10)
        self.assertIn("system_shared_memory", list(meta.extensions))
        self.assertNotIn("cuda_shared_memory", list(meta.extensions))

    # -- gRPC --
    def grpc_register(self, name, key=None, offset=0, byte_size=4 * TENSOR_BYTES):
        return self.stub.SystemSharedMemoryRegister(
            self.pb.SystemSharedMemoryRegisterRequest(name=name, key=key or self.key,
                                                      offset=offset, byte_size=byte_size),
            timeout=10)

    def grpc_request(self, region="data", raw_input1=False):
        req = self.pb.ModelInferRequest(model_name="simple", id="shm-1")
        for i, name in enumerate(("INPUT0", "INPUT1")):
            t = req.inputs.add(name=name, datatype="INT32", shape=[1, 16])
            if raw_input1 and name == "INPUT1":
                req.raw_input_contents.append(np.full(16, 10, dtype="<i4").tobytes())
                continue
            t.parameters["shared_memory_region"].string_param = region
            t.parameters["shared_memory_byte_size"].int64_param = TENSOR_BYTES
            if i:
                t.parameters["shared_memory_offset"].int64_param = i * TENSOR_BYTES
        for i, name in enumerate(("OUTPUT0", "OUTPUT1")):
            o = req.outputs.add(name=name)
            o.parameters["shared_memory_region"].string_param = region
            o.parameters["shared_memory_offset"].int64_param = (2 + i) * TENSOR_BYTES
            o.parameters["shared_memory_byte_size"].int64_param = TENSOR_BYTES
        return req

    def test_grpc_inputs_and_outputs_through_shared_memory(self):
        self.grpc_register("data")
        status = self.stub.SystemSharedMemoryStatus(
            self.pb.SystemSharedMemoryStatusRequest(), timeout=10)
        self.assertEqual(list(status.regions), ["data"])
        region = status.regions["data"]
        self.assertEqual((region.name, region.key, region.offset, region.byte_size),
                         ("data", self.key, 0, 4 * TENSOR_BYTES))
        resp = self.stub.ModelInfer(self.grpc_request(), timeout=30)
        self.assertEqual(len(resp.raw_output_contents), 2)
        for i, out in enumerate(resp.outputs):
            self.assertEqual(resp.raw_output_contents[i], b"")
            self.assertEqual(out.parameters["shared_memory_region"].string_param, "data")
            self.assertEqual(out.parameters["shared_memory_byte_size"].int64_param, TENSOR_BYTES)
            self.assertEqual(out.parameters["shared_memory_offset"].int64_param,
                             (2 + i) * TENSOR_BYTES)
        np.testing.assert_array_equal(self.view[2], (self.a + self.b)[0])
        np.testing.assert_array_equal(self.view[3], (self.a - self.b)[0])
        # INPUT1 raw: raw_input_contents holds one entry, for the input not in the region.
        self.view[2:] = -1
        self.stub.ModelInfer(self.grpc_request(raw_input1=True), timeout=30)
        np.testing.assert_array_equal(self.view[2], self.a[0] + 10)

    def test_grpc_bad_registrations_and_references(self):
        code = grpc.StatusCode
        self.assertGrpcError(lambda: self.grpc_register("r", key="/ferry_no_such_shm_key"),
                             code.NOT_FOUND, mentions=["/ferry_no_such_shm_key"])
        self.assertGrpcError(lambda: self.grpc_register("r", byte_size=4 * TENSOR_BYTES + 1),
                             code.INVALID_ARGUMENT, mentions=["past the end"])
        self.assertGrpcError(lambda: self.grpc_register("r", offset=10_000, byte_size=1),
                             code.INVALID_ARGUMENT, mentions=["offset 10000"])
        self.grpc_register("data")
        self.assertGrpcError(lambda: self.grpc_register("data"), code.INVALID_ARGUMENT,
                             mentions=["already registered"])
        self.assertGrpcError(
            lambda: self.stub.SystemSharedMemoryStatus(
                self.pb.SystemSharedMemoryStatusRequest(name="zz"), timeout=10),
            code.NOT_FOUND, mentions=["'zz' is not registered"])
        self.assertGrpcError(lambda: self.stub.ModelInfer(self.grpc_request("nope"), timeout=30),
                             code.INVALID_ARGUMENT, mentions=["'nope' is not registered"])
        req = self.grpc_request()
        req.inputs[0].parameters["shared_memory_offset"].int64_param = 4 * TENSOR_BYTES - 8
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             code.INVALID_ARGUMENT, mentions=["input 'INPUT0'", "past the end"])
        req = self.grpc_request()
        req.inputs[0].parameters["shared_memory_byte_size"].int64_param = 32
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             code.INVALID_ARGUMENT, mentions=["is 32", "needs 64 bytes"])
        req = self.grpc_request()
        req.outputs[1].parameters["shared_memory_byte_size"].int64_param = 16
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             code.INVALID_ARGUMENT, mentions=["output 'OUTPUT1' has 64 bytes"])
        req = self.grpc_request()
        req.inputs[0].contents.int_contents.extend(range(16))
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             code.INVALID_ARGUMENT, mentions=["contents", "shared_memory_region"])
        req = self.grpc_request()
        req.raw_input_contents.append(b"\0" * 64)
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             code.INVALID_ARGUMENT, mentions=["raw_input_contents has 1 entries",
                                                              "not in shared memory"])
        req = self.grpc_request()
        req.inputs[1].parameters["shared_memory_offset"].string_param = "64"
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             code.INVALID_ARGUMENT, mentions=["shared_memory_offset",
                                                              "non-negative integer"])
        self.stub.SystemSharedMemoryUnregister(
            self.pb.SystemSharedMemoryUnregisterRequest(name="data"), timeout=10)
        self.assertEqual(len(self.stub.SystemSharedMemoryStatus(
            self.pb.SystemSharedMemoryStatusRequest(), timeout=10).regions), 0)
        self.assertGrpcAnswers()


if __name__ == "__main__":
    unittest.main()
