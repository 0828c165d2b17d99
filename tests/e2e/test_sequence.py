"""The sequence extension against a real server: `simple_sequence` (an accumulator whose
running sum Ferry keeps per sequence) over HTTP and gRPC, sequences interleaved and
concurrent, numeric, string and uint64 ids, restart, end, idle expiry, the limit on live
sequences, and every bad sequence parameter answered with a 4xx naming it."""

import shutil
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

try:
    import grpc
except ImportError:  # stubs() skips the tests with the package to install
    grpc = None

from server import EXTENSIONS, MODELS, copy_model, output
from test_grpc import GrpcTestCase

# Triton's sequence example clients send these values; the second sequence their negatives.
VALUES = [11, 7, 5, 3, 2, 0, 1]
SMALL_IDLE_MS = 400


class SequenceTest(GrpcTestCase):
    @classmethod
    def build_repository(cls, repo):
        shutil.copytree(MODELS / "simple_sequence", repo / "simple_sequence")
        shutil.copytree(MODELS / "simple_sequence", repo / "seq_small")
        text = (repo / "seq_small" / "config.toml").read_text()
        text = text.replace("max_sequences = 64", "max_sequences = 2")
        text = text.replace("idle_timeout_ms = 60000", f"idle_timeout_ms = {SMALL_IDLE_MS}")
        (repo / "seq_small" / "config.toml").write_text(text)
        copy_model(repo, "simple")

    @classmethod
    def required_models(cls):
        return ("simple",)

    # ---- HTTP ----
    def http_step(self, seq_id, value, start=False, end=False, model="simple_sequence",
                  extra=None):
        params = {"sequence_id": seq_id, "sequence_start": start, "sequence_end": end}
        params.update(extra or {})
        return self.infer(model, {"parameters": params, "inputs": [
            {"name": "INPUT", "shape": [1, 1], "datatype": "INT32", "data": [value]}]})

    def http_sum(self, *args, **kw):
        body = self.assertOk(self.http_step(*args, **kw))
        out = output(body, "OUTPUT")
        self.assertEqual((out["datatype"], out["shape"]), ("INT32", [1, 1]))
        self.assertEqual([o["name"] for o in body["outputs"]], ["OUTPUT"])  # no state
        return out["data"][0]

    def test_http_two_interleaved_sequences_as_the_triton_client_runs_them(self):
        sums0, sums1 = [], []
        for i, v in enumerate(VALUES):
            first, last = i == 0, i == len(VALUES) - 1
            sums0.append(self.http_sum(1000, v, start=first, end=last))
            sums1.append(self.http_sum(1001, -v, start=first, end=last))
        running = [sum(VALUES[:i + 1]) for i in range(len(VALUES))]
        self.assertEqual(sums0, running)
        self.assertEqual(sums1, [-s for s in running])
        # Both ended: they are gone.
        self.assertError(self.http_step(1000, 1), 400, mentions=["sequence 1000", "not live"])

    def test_http_string_and_large_ids(self):
        self.assertEqual(self.http_sum("user-42", 5, start=True), 5)
        self.assertEqual(self.http_sum(2 ** 64 - 1, 9, start=True), 9)  # beyond int64
        self.assertEqual(self.http_sum("user-42", 6), 11)
        self.assertEqual(self.http_sum(2 ** 64 - 1, 1, end=True), 10)
        self.assertEqual(self.http_sum("user-42", 1, end=True), 12)

    def test_http_start_on_a_live_sequence_restarts_it(self):
        self.assertEqual(self.http_sum(77, 10, start=True), 10)
        self.assertEqual(self.http_sum(77, 5), 15)
        self.assertEqual(self.http_sum(77, 3, start=True), 3)
        self.assertEqual(self.http_sum(77, 1, end=True), 4)

    def test_http_concurrent_sequences_each_keep_their_sum(self):
        def run(k):
            total = 0
            for i in range(20):
                got = self.http_sum(5000 + k, k + i, start=i == 0, end=i == 19)
                total += k + i
                if got != total:
                    return False
            return True

        with ThreadPoolExecutor(8) as pool:
            self.assertTrue(all(pool.map(run, range(8))))

    def test_http_errors_name_the_problem(self):
        # Unknown sequence: no start seen.
        self.assertError(self.http_step(31337, 1), 400,
                         mentions=["sequence 31337", "never started", "sequence_start"])
        # Wrong types.
        self.assertError(self.http_step(1, 1, extra={"sequence_start": 1}), 400,
                         mentions=["sequence_start", "true or false"])
        self.assertError(self.http_step(1, 1, extra={"sequence_end": "yes"}), 400,
                         mentions=["sequence_end"])
        self.assertError(self.http_step(-3, 1, start=True), 400, mentions=["sequence_id", "-3"])
        self.assertError(self.http_step(1.5, 1, start=True), 400, mentions=["sequence_id"])
        self.assertError(self.http_step(True, 1, start=True), 400, mentions=["sequence_id"])
        self.assertError(self.http_step([1], 1, start=True), 400, mentions=["sequence_id"])
        # No id for a stateful model; an id for a model that is not stateful.
        r = self.infer("simple_sequence", {"inputs": [
            {"name": "INPUT", "shape": [1, 1], "datatype": "INT32", "data": [1]}]})
        self.assertError(r, 400, mentions=["stateful", "sequence_id"])
        r = self.infer("simple", {"parameters": {"sequence_id": 5, "sequence_start": True}, "inputs": [
            {"name": "INPUT0", "shape": [1, 16], "datatype": "INT32", "data": [0] * 16},
            {"name": "INPUT1", "shape": [1, 16], "datatype": "INT32", "data": [0] * 16}]})
        self.assertError(r, 400, mentions=["not stateful", "sequence_id"])
        # More than one row in a sequence's request.
        r = self.infer("simple_sequence", {"parameters": {"sequence_id": 8, "sequence_start": True},
                                           "inputs": [{"name": "INPUT", "shape": [2, 1],
                                                       "datatype": "INT32", "data": [1, 2]}]})
        self.assertError(r, 400, mentions=["one row"])
        # The state input is not the client's to send.
        r = self.infer("simple_sequence", {"parameters": {"sequence_id": 8, "sequence_start": True},
                                           "inputs": [
            {"name": "INPUT", "shape": [1, 1], "datatype": "INT32", "data": [1]},
            {"name": "STATE_IN", "shape": [1, 1], "datatype": "INT32", "data": [1]}]})
        self.assertError(r, 400, mentions=["STATE_IN"])
        # After all that, the model still serves.
        self.assertEqual(self.http_sum(9, 2, start=True, end=True), 2)

    def test_max_sequences_and_idle_expiry(self):
        self.assertEqual(self.http_sum(1, 1, start=True, model="seq_small"), 1)
        self.assertEqual(self.http_sum(2, 2, start=True, model="seq_small"), 2)
        self.assertError(self.http_step(3, 3, start=True, model="seq_small"), 409,
                         mentions=["maximum of 2 live sequences", "max_sequences"])
        req = self.grpc_step(3, 3, start=True, model="seq_small")
        self.assertGrpcError(lambda: self.stub.ModelInfer(req, timeout=30),
                             grpc.StatusCode.FAILED_PRECONDITION, mentions=["max_sequences"])
        # Ending one makes room.
        self.assertEqual(self.http_sum(1, 1, end=True, model="seq_small"), 2)
        self.assertEqual(self.http_sum(3, 3, start=True, model="seq_small"), 3)
        # Idle past the timeout: both expire, naming why, and room comes back.
        time.sleep(SMALL_IDLE_MS / 1000 * 1.5)
        self.assertError(self.http_step(2, 1, model="seq_small"), 400,
                         mentions=["sequence 2", "expired", "sequence_start"])
        self.assertEqual(self.http_sum(4, 4, start=True, model="seq_small"), 4)
        self.assertEqual(self.http_sum(5, 5, start=True, model="seq_small"), 5)
        self.assertEqual(self.http_sum(4, 1, model="seq_small"), 5)

    # ---- gRPC ----
    def grpc_step(self, seq_id, value, start=False, end=False, model="simple_sequence",
                  kind=None):
        req = self.pb.ModelInferRequest(model_name=model)
        t = req.inputs.add(name="INPUT", datatype="INT32", shape=[1, 1])
        t.contents.int_contents.append(value)
        p = req.parameters
        if isinstance(seq_id, str):
            p["sequence_id"].string_param = seq_id
        elif kind == "uint64":
            p["sequence_id"].uint64_param = seq_id
        else:
            p["sequence_id"].int64_param = seq_id
        p["sequence_start"].bool_param = start
        p["sequence_end"].bool_param = end
        return req

    def grpc_sum(self, *args, **kw):
        resp = self.stub.ModelInfer(self.grpc_step(*args, **kw), timeout=30)
        self.assertEqual([o.name for o in resp.outputs], ["OUTPUT"])
        return int(self.output_array(resp, "OUTPUT", "<i4")[0, 0])

    def test_grpc_two_interleaved_sequences_with_int_string_and_uint64_ids(self):
        for ids in ((2000, 2001), ("seq-a", "seq-b"), (2 ** 63, 2 ** 64 - 2)):
            with self.subTest(ids=ids):
                kind = "uint64" if isinstance(ids[0], int) and ids[0] >= 2 ** 63 else None
                sums0, sums1 = [], []
                for i, v in enumerate(VALUES):
                    first, last = i == 0, i == len(VALUES) - 1
                    sums0.append(self.grpc_sum(ids[0], v, first, last, kind=kind))
                    sums1.append(self.grpc_sum(ids[1], -v, first, last, kind=kind))
                running = [sum(VALUES[:i + 1]) for i in range(len(VALUES))]
                self.assertEqual(sums0, running)
                self.assertEqual(sums1, [-s for s in running])

    def test_grpc_and_http_share_one_sequence(self):
        self.assertEqual(self.grpc_sum(4242, 1, start=True), 1)
        self.assertEqual(self.http_sum(4242, 2), 3)
        self.assertEqual(self.grpc_sum(4242, 3, end=True), 6)

    def test_grpc_errors_name_the_problem(self):
        def call(req):
            return lambda: self.stub.ModelInfer(req, timeout=30)

        invalid = grpc.StatusCode.INVALID_ARGUMENT
        self.assertGrpcError(call(self.grpc_step(424242, 1)), invalid,
                             mentions=["sequence 424242", "not live", "sequence_start"])
        req = self.grpc_step(1, 1)
        req.parameters["sequence_start"].int64_param = 1
        self.assertGrpcError(call(req), invalid, mentions=["sequence_start", "true or false"])
        self.assertGrpcError(call(self.grpc_step(-1, 1, start=True)), invalid,
                             mentions=["sequence_id", "-1"])
        req = self.grpc_step(1, 1, start=True)
        req.parameters["sequence_id"].double_param = 2.5
        self.assertGrpcError(call(req), invalid, mentions=["sequence_id"])
        req = self.grpc_step(1, 1, start=True)
        del req.parameters["sequence_id"]
        self.assertGrpcError(call(req), invalid, mentions=["stateful", "sequence_id"])

    # ---- metadata ----
    def test_metadata_hides_the_state_and_lists_the_extension(self):
        meta = self.assertOk(self.get("/v2/models/simple_sequence"))
        self.assertEqual([t["name"] for t in meta["inputs"]], ["INPUT"])
        self.assertEqual([t["name"] for t in meta["outputs"]], ["OUTPUT"])
        self.assertIn("sequence", self.assertOk(self.get("/v2"))["extensions"])
        self.assertIn("sequence", EXTENSIONS)


if __name__ == "__main__":
    unittest.main()
