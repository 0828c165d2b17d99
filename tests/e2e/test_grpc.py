"""The Open Inference Protocol over gRPC (inference.GRPCInferenceService and
grpc.health.v1.Health) against a real `ferry serve --grpc-port 0`, with Python stubs
generated at test time from src/api/grpc/*.proto (see grpc_stubs.py)."""

import json
import re
import shutil
import struct
import subprocess
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import requests

try:
    import grpc
except ImportError:  # stubs() skips the tests with the package to install
    grpc = None

from grpc_stubs import stubs
from server import (EXAMPLES, EXTENSIONS, FASHION_LABELS, FerryServer, ServerTestCase, copy_model,
                    ferry_bin, metric, parse_metrics, require_models, simple_config)

GRPC_LISTENING_RE = re.compile(r"gRPC listening on (\S+):(\d+)")
MAX_MESSAGE = 64 << 20


def require_grpc_flag() -> None:
    """Skips until `ferry serve` has --grpc-port (the CLI wiring of GrpcServer)."""
    binary = ferry_bin()
    if not binary.is_file():
        return  # ServerTestCase reports the missing binary
    help_text = subprocess.run([str(binary), "serve", "--help"], capture_output=True, text=True,
                               timeout=60).stdout
    if "--grpc-port" not in help_text:
        raise unittest.SkipTest(f"{binary} serve has no --grpc-port flag (GrpcServer not wired "
                                "into src/cli/serve.cc)")


def grpc_port_args() -> tuple:
    """`--grpc-port 0`, unless server.py already gives every server one (the CLI rejects
    the flag twice)."""
    try:
        base = FerryServer.command(SimpleNamespace(repository=Path("."), args=[]))
    except Exception:
        base = []
    return () if "--grpc-port" in base else ("--grpc-port", "0")


def wait_grpc_target(server: FerryServer, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = GRPC_LISTENING_RE.search(server.log())
        if m:
            return f"{m.group(1)}:{m.group(2)}"
        if not server.alive():
            break
        time.sleep(0.05)
    raise AssertionError(f"no 'gRPC listening on' in the server log; log:\n{server.log_tail()}")


def open_channel(target: str):
    channel = grpc.insecure_channel(target, options=[
        ("grpc.max_send_message_length", MAX_MESSAGE),
        ("grpc.max_receive_message_length", MAX_MESSAGE)])
    grpc.channel_ready_future(channel).result(timeout=30)
    return channel


def queue_depth(server: FerryServer, model: str) -> float:
    text = requests.get(server.base_url + "/metrics", timeout=10).text
    return metric(parse_metrics(text), "ferry_queue_depth", model=model)


def decode_bytes_tensor(raw: bytes) -> list:
    """BYTES raw contents: per element a 4-byte little-endian length, then the bytes."""
    items, i = [], 0
    while i < len(raw):
        (n,) = struct.unpack_from("<I", raw, i)
        items.append(raw[i + 4:i + 4 + n])
        i += 4 + n
    return items


def example_image(fname: str = "infer_cnn_1.json") -> np.ndarray:
    body = json.loads((EXAMPLES / fname).read_text())
    tensor = body["inputs"][0]
    return np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])


def expected_labels(fname: str = "infer_cnn_1.json") -> list:
    expected = json.loads((EXAMPLES / "expected.json").read_text())
    return [row["label"] for row in expected["requests"][fname]]


class GrpcTestCase(ServerTestCase):
    """A ServerTestCase whose server also serves gRPC on a free port; `stub` and `health`
    talk to it."""

    @classmethod
    def setUpClass(cls):
        cls.pb, cls.pb_grpc, cls.health_pb, cls.health_grpc = stubs()
        require_grpc_flag()
        cls.server_args = grpc_port_args()
        super().setUpClass()
        try:
            cls.grpc_target = wait_grpc_target(cls.server)
            cls.channel = open_channel(cls.grpc_target)
        except BaseException:
            super().tearDownClass()
            raise
        cls.stub = cls.pb_grpc.GRPCInferenceServiceStub(cls.channel)
        cls.health = cls.health_grpc.HealthStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        super().tearDownClass()

    # -- request builders --
    def simple_request(self, a, b, raw: bool, request_id: str = "") -> object:
        a = np.asarray(a, dtype=np.int32).reshape(-1, 16)
        b = np.asarray(b, dtype=np.int32).reshape(-1, 16)
        req = self.pb.ModelInferRequest(model_name="simple", id=request_id)
        for name, values in (("INPUT0", a), ("INPUT1", b)):
            t = req.inputs.add(name=name, datatype="INT32", shape=list(values.shape))
            if raw:
                req.raw_input_contents.append(values.astype("<i4").tobytes())
            else:
                t.contents.int_contents.extend(int(v) for v in values.reshape(-1))
        return req

    def image_request(self, images: np.ndarray, raw: bool = True, request_id: str = "",
                      classification: int = 0) -> object:
        images = np.asarray(images, dtype=np.float32).reshape(-1, 1, 28, 28)
        req = self.pb.ModelInferRequest(model_name="fashion_cnn", id=request_id)
        t = req.inputs.add(name="image", datatype="FP32", shape=list(images.shape))
        if raw:
            req.raw_input_contents.append(images.astype("<f4").tobytes())
        else:
            t.contents.fp32_contents.extend(images.reshape(-1).tolist())
        if classification:
            out = req.outputs.add(name="logits")
            out.parameters["classification"].int64_param = classification
        return req

    def output_array(self, resp, name: str, dtype: str) -> np.ndarray:
        self.assertEqual(len(resp.raw_output_contents), len(resp.outputs),
                         "one raw_output_contents entry per output")
        for i, out in enumerate(resp.outputs):
            if out.name == name:
                data = np.frombuffer(resp.raw_output_contents[i], dtype=dtype)
                return data.reshape(list(out.shape))
        self.fail(f"output {name!r} missing from {[o.name for o in resp.outputs]}")

    def assertGrpcError(self, call, code, mentions=()) -> str:
        with self.assertRaises(grpc.RpcError) as ctx:
            call()
        err = ctx.exception
        self.assertEqual(err.code(), code, err.details())
        details = err.details() or ""
        self.assertTrue(details.strip(), "error details must not be empty")
        for word in mentions:
            self.assertIn(word.lower(), details.lower(),
                          f"error should mention {word!r}: {details}")
        return details

    def assertGrpcAnswers(self) -> None:
        self.assertTrue(self.server.alive(), "server died; log:\n" + self.server.log_tail())
        self.assertTrue(self.stub.ServerLive(self.pb.ServerLiveRequest(), timeout=10).live)
        resp = self.stub.ModelInfer(self.simple_request(np.arange(16), np.ones(16), raw=True),
                                    timeout=30)
        np.testing.assert_array_equal(self.output_array(resp, "OUTPUT0", "<i4")[0],
                                      np.arange(16) + 1)


class GrpcApiTest(GrpcTestCase):
    models = ("fashion_cnn", "simple")

    def test_server_live_and_ready(self):
        self.assertTrue(self.stub.ServerLive(self.pb.ServerLiveRequest(), timeout=10).live)
        self.assertTrue(self.stub.ServerReady(self.pb.ServerReadyRequest(), timeout=10).ready)

    def test_server_metadata_matches_http(self):
        meta = self.stub.ServerMetadata(self.pb.ServerMetadataRequest(), timeout=10)
        self.assertEqual(meta.name, "ferry")
        self.assertTrue(meta.version)
        self.assertEqual(list(meta.extensions), EXTENSIONS)
        http = self.assertOk(self.get("/v2"))
        self.assertEqual((meta.name, meta.version, list(meta.extensions)),
                         (http["name"], http["version"], http["extensions"]))

    def test_model_metadata(self):
        for version in ("", "1"):
            with self.subTest(version=version):
                meta = self.stub.ModelMetadata(
                    self.pb.ModelMetadataRequest(name="fashion_cnn", version=version), timeout=10)
                self.assertEqual(meta.name, "fashion_cnn")
                self.assertEqual(list(meta.versions), ["1"])
                self.assertEqual(meta.platform, "pytorch_torchscript")
                self.assertEqual([(t.name, t.datatype, list(t.shape)) for t in meta.inputs],
                                 [("image", "FP32", [-1, 1, 28, 28])])
                self.assertEqual([(t.name, t.datatype, list(t.shape)) for t in meta.outputs],
                                 [("logits", "FP32", [-1, 10])])

    def test_model_ready(self):
        for version in ("", "1"):
            resp = self.stub.ModelReady(
                self.pb.ModelReadyRequest(name="fashion_cnn", version=version), timeout=10)
            self.assertTrue(resp.ready, version)
        self.assertGrpcError(
            lambda: self.stub.ModelReady(self.pb.ModelReadyRequest(name="nope"), timeout=10),
            grpc.StatusCode.NOT_FOUND, ["nope"])

    def test_health_check(self):
        serving = self.health_pb.HealthCheckResponse.SERVING
        for service in ("", "inference.GRPCInferenceService"):
            resp = self.health.Check(self.health_pb.HealthCheckRequest(service=service), timeout=10)
            self.assertEqual(resp.status, serving, service)
        self.assertGrpcError(
            lambda: self.health.Check(self.health_pb.HealthCheckRequest(service="no.Such"),
                                      timeout=10),
            grpc.StatusCode.NOT_FOUND)

    def test_simple_with_typed_int_contents(self):
        expected = json.loads((EXAMPLES / "expected.json").read_text())["simple"]
        request = json.loads((EXAMPLES / expected["request"]).read_text())
        a, b = (np.asarray(t["data"]) for t in request["inputs"])
        resp = self.stub.ModelInfer(self.simple_request(a, b, raw=False, request_id="typed-1"),
                                    timeout=30)
        self.assertEqual((resp.model_name, resp.model_version, resp.id), ("simple", "1", "typed-1"))
        self.assertEqual([(o.name, o.datatype, list(o.shape)) for o in resp.outputs],
                         [("OUTPUT0", "INT32", [1, 16]), ("OUTPUT1", "INT32", [1, 16])])
        for name in ("OUTPUT0", "OUTPUT1"):
            np.testing.assert_array_equal(self.output_array(resp, name, "<i4")[0], expected[name])

    def test_simple_with_raw_contents_batch_of_3(self):
        rng = np.random.default_rng(7)
        a = rng.integers(-1000, 1000, size=(3, 16))
        b = rng.integers(-1000, 1000, size=(3, 16))
        resp, call = self.stub.ModelInfer.with_call(self.simple_request(a, b, raw=True),
                                                    timeout=30)
        # A request without an id gets the server's request id, the one the x-request-id
        # metadata carries back (InferenceServer::Infer).
        metadata = dict(call.initial_metadata())
        self.assertRegex(resp.id, r"^[0-9a-f]{32}$")
        self.assertEqual(resp.id, metadata.get("x-request-id"))
        np.testing.assert_array_equal(self.output_array(resp, "OUTPUT0", "<i4"), a + b)
        np.testing.assert_array_equal(self.output_array(resp, "OUTPUT1", "<i4"), a - b)

    def test_requested_output_only(self):
        req = self.simple_request(np.arange(16), np.arange(16), raw=True)
        req.outputs.add(name="OUTPUT1")
        resp = self.stub.ModelInfer(req, timeout=30)
        self.assertEqual([o.name for o in resp.outputs], ["OUTPUT1"])
        np.testing.assert_array_equal(self.output_array(resp, "OUTPUT1", "<i4"), np.zeros((1, 16)))

    def test_fashion_cnn_real_image(self):
        image = example_image()
        for raw in (True, False):
            with self.subTest(raw=raw):
                resp = self.stub.ModelInfer(self.image_request(image, raw=raw, request_id="cnn-1"),
                                            timeout=30)
                self.assertEqual(resp.id, "cnn-1")
                logits = self.output_array(resp, "logits", "<f4")
                self.assertEqual(logits.shape, (1, 10))
                self.assertEqual(int(np.argmax(logits[0])), expected_labels()[0])

    def test_logits_match_http_exactly(self):
        images = example_image("infer_cnn_4.json")
        resp = self.stub.ModelInfer(self.image_request(images), timeout=30)
        grpc_logits = self.output_array(resp, "logits", "<f4")
        body = json.loads((EXAMPLES / "infer_cnn_4.json").read_text())
        http = self.assertOk(self.infer("fashion_cnn", body))
        http_logits = np.asarray(http["outputs"][0]["data"], dtype=np.float32)
        http_logits = http_logits.reshape(grpc_logits.shape)
        np.testing.assert_array_equal(grpc_logits, http_logits)
        self.assertEqual(list(np.argmax(grpc_logits, axis=1)), expected_labels("infer_cnn_4.json"))

    def test_classification_top3(self):
        image = example_image()
        logits = self.output_array(self.stub.ModelInfer(self.image_request(image), timeout=30),
                                   "logits", "<f4")[0]
        resp = self.stub.ModelInfer(self.image_request(image, classification=3), timeout=30)
        self.assertEqual(len(resp.outputs), 1)
        out = resp.outputs[0]
        self.assertEqual((out.name, out.datatype, list(out.shape)), ("logits", "BYTES", [1, 3]))
        entries = [e.decode() for e in decode_bytes_tensor(resp.raw_output_contents[0])]
        self.assertEqual(len(entries), 3, entries)
        top = list(np.argsort(-logits)[:3])
        for entry, index in zip(entries, top):
            value, idx, label = entry.split(":", 2)
            self.assertEqual(int(idx), index, entries)
            self.assertEqual(label, FASHION_LABELS[index])
            self.assertAlmostEqual(float(value), float(logits[index]), places=3)
        self.assertEqual(int(entries[0].split(":")[1]), expected_labels()[0])

    def test_concurrent_requests_do_not_mix(self):
        def call(i):
            a = np.full(16, i)
            b = np.arange(16)
            req = self.simple_request(a, b, raw=i % 2 == 0, request_id=str(i))
            resp = self.stub.ModelInfer(req, timeout=60)
            return i, resp.id, self.output_array(resp, "OUTPUT0", "<i4")[0]
        with ThreadPoolExecutor(max_workers=16) as pool:
            for i, rid, out in pool.map(call, range(64)):
                self.assertEqual(rid, str(i))
                np.testing.assert_array_equal(out, i + np.arange(16))

    def test_statistics(self):
        self.stub.ModelInfer(self.simple_request(np.arange(16), np.ones(16), raw=True), timeout=30)
        stats = self.stub.ModelStatistics(self.pb.ModelStatisticsRequest(name="simple"), timeout=10)
        self.assertEqual([(s.name, s.version) for s in stats.model_stats], [("simple", "1")])
        s = stats.model_stats[0]
        self.assertGreaterEqual(s.inference_count, 1)
        self.assertGreaterEqual(s.execution_count, 1)
        self.assertGreaterEqual(s.inference_stats.success.count, 1)
        self.assertGreater(s.last_inference, 0)
        every = self.stub.ModelStatistics(self.pb.ModelStatisticsRequest(), timeout=10)
        self.assertEqual(sorted(s.name for s in every.model_stats), ["fashion_cnn", "simple"])

    def test_repository_index(self):
        index = self.stub.RepositoryIndex(self.pb.RepositoryIndexRequest(ready=True), timeout=10)
        self.assertEqual([(m.name, m.version, m.state) for m in index.models],
                         [("fashion_cnn", "1", "READY"), ("simple", "1", "READY")])


class GrpcErrorTest(GrpcTestCase):
    """Each malformed request gets its own status code and a message naming the problem,
    and the server keeps answering."""

    models = ("simple",)

    def tearDown(self):
        self.assertGrpcAnswers()

    def test_unknown_model(self):
        req = self.simple_request(np.arange(16), np.ones(16), raw=True)
        req.model_name = "no_such_model"
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             grpc.StatusCode.NOT_FOUND, ["no_such_model"])
        self.assertGrpcError(
            lambda: self.stub.ModelMetadata(self.pb.ModelMetadataRequest(name="no_such_model"),
                                            timeout=10),
            grpc.StatusCode.NOT_FOUND, ["no_such_model"])

    def test_unknown_version(self):
        req = self.simple_request(np.arange(16), np.ones(16), raw=True)
        req.model_version = "7"
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             grpc.StatusCode.NOT_FOUND, ["7"])

    def test_mixed_contents_and_raw(self):
        req = self.simple_request(np.arange(16), np.ones(16), raw=True)
        req.inputs[0].contents.int_contents.extend(range(16))
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             grpc.StatusCode.INVALID_ARGUMENT, ["INPUT0", "raw_input_contents"])

    def test_one_raw_entry_for_two_inputs(self):
        req = self.simple_request(np.arange(16), np.ones(16), raw=True)
        del req.raw_input_contents[1]
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             grpc.StatusCode.INVALID_ARGUMENT, ["raw_input_contents", "2 inputs"])

    def test_raw_size_mismatch(self):
        req = self.simple_request(np.arange(16), np.ones(16), raw=True)
        req.raw_input_contents[1] = req.raw_input_contents[1][:-4]
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             grpc.StatusCode.INVALID_ARGUMENT, ["INPUT1", "60", "64"])

    def test_typed_count_mismatch(self):
        req = self.simple_request(np.arange(16), np.ones(16), raw=False)
        del req.inputs[0].contents.int_contents[-1]
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             grpc.StatusCode.INVALID_ARGUMENT, ["INPUT0", "int_contents"])

    def test_wrong_datatype(self):
        # FP32 with the right byte count: only the signature check can catch it.
        req = self.simple_request(np.arange(16), np.ones(16), raw=True)
        req.inputs[0].datatype = "FP32"
        req.raw_input_contents[0] = np.arange(16, dtype="<f4").tobytes()
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             grpc.StatusCode.INVALID_ARGUMENT, ["INPUT0", "INT32"])
        # Typed contents in the field of another datatype.
        typed = self.simple_request(np.arange(16), np.ones(16), raw=False)
        typed.inputs[1].contents.ClearField("int_contents")
        typed.inputs[1].contents.fp32_contents.extend([1.0] * 16)
        self.assertGrpcError(lambda: self.stub.ModelInfer(typed, timeout=30),
                             grpc.StatusCode.INVALID_ARGUMENT, ["INPUT1", "int_contents"])

    def test_unknown_datatype(self):
        req = self.simple_request(np.arange(16), np.ones(16), raw=True)
        req.inputs[0].datatype = "INT31"
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             grpc.StatusCode.INVALID_ARGUMENT, ["INT31"])

    def test_batch_above_max_batch_size(self):
        rows = 9  # simple's max_batch_size is 8
        req = self.simple_request(np.zeros((rows, 16)), np.zeros((rows, 16)), raw=True)
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             grpc.StatusCode.INVALID_ARGUMENT, ["9", "8"])

    def test_bad_classification_parameter(self):
        req = self.simple_request(np.arange(16), np.ones(16), raw=True)
        req.outputs.add(name="OUTPUT0").parameters["classification"].string_param = "3"
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             grpc.StatusCode.INVALID_ARGUMENT, ["classification"])

    def test_unknown_output(self):
        req = self.simple_request(np.arange(16), np.ones(16), raw=True)
        req.outputs.add(name="OUTPUT9")
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             grpc.StatusCode.INVALID_ARGUMENT, ["OUTPUT9"])


class GrpcRepositoryTest(GrpcTestCase):
    """Unload and load through gRPC; a class of its own because it takes `simple` away."""

    models = ("simple",)

    def test_unload_then_load(self):
        req = self.simple_request(np.arange(16), np.ones(16), raw=True)
        self.stub.RepositoryModelUnload(self.pb.RepositoryModelUnloadRequest(model_name="simple"),
                                        timeout=60)
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             grpc.StatusCode.NOT_FOUND, ["simple"])
        self.assertGrpcError(
            lambda: self.stub.RepositoryModelUnload(
                self.pb.RepositoryModelUnloadRequest(model_name="simple"), timeout=60),
            grpc.StatusCode.NOT_FOUND)
        self.stub.RepositoryModelLoad(self.pb.RepositoryModelLoadRequest(model_name="simple"),
                                      timeout=120)
        resp = self.stub.ModelInfer(req, timeout=30)
        np.testing.assert_array_equal(self.output_array(resp, "OUTPUT0", "<i4")[0],
                                      np.arange(16) + 1)
        self.assertGrpcError(
            lambda: self.stub.RepositoryModelLoad(
                self.pb.RepositoryModelLoadRequest(model_name="not_there"), timeout=60),
            grpc.StatusCode.NOT_FOUND)


class GrpcShutdownTest(unittest.TestCase):
    """SIGTERM while gRPC calls wait in a batching window: they still get their answers and
    the server exits 0."""

    def test_in_flight_calls_finish(self):
        pb, pb_grpc, _, _ = stubs()
        require_grpc_flag()
        require_models("simple")
        repo = Path(tempfile.mkdtemp(prefix="ferry-e2e-repo-"))
        server = None
        try:
            # Requests wait up to 1 s for a batch of 8 that never fills.
            copy_model(repo, "simple", config=simple_config(max_queue_delay_us=1_000_000,
                                                            preferred=(8,)))
            server = FerryServer(repo, grpc_port_args(), name="GrpcShutdownTest").start()
            channel = open_channel(wait_grpc_target(server))
            stub = pb_grpc.GRPCInferenceServiceStub(channel)

            def request(i):
                req = pb.ModelInferRequest(model_name="simple", id=f"r{i}")
                for name, values in (("INPUT0", np.full(16, i)), ("INPUT1", np.ones(16))):
                    req.inputs.add(name=name, datatype="INT32", shape=[1, 16])
                    req.raw_input_contents.append(values.astype("<i4").tobytes())
                return req

            futures = [stub.ModelInfer.future(request(i), timeout=30) for i in range(4)]
            deadline = time.monotonic() + 10
            while queue_depth(server, "simple") != 4 and time.monotonic() < deadline:
                time.sleep(0.01)
            self.assertEqual(queue_depth(server, "simple"), 4, "the calls never got queued")
            server.terminate()
            for i, fut in enumerate(futures):
                resp = fut.result()
                self.assertEqual(resp.id, f"r{i}")
                out = np.frombuffer(resp.raw_output_contents[0], dtype="<i4")
                np.testing.assert_array_equal(out, np.full(16, i + 1))
            self.assertEqual(server.wait(timeout=20), 0, server.log_tail())
            channel.close()
        finally:
            if server is not None:
                server.stop()
            shutil.rmtree(repo, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
