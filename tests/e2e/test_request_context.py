"""The request context from outside: request ids both ways (X-Request-Id, the V2 `id`,
x-request-id gRPC metadata) and deadlines (the `timeout` parameter, gRPC deadlines), with
real HTTP and gRPC clients against a real server."""

import re
import time
import unittest

import numpy as np

from server import ServerTestCase, copy_model, metric, parse_metrics, simple_config, simple_request
from test_grpc import GrpcTestCase

HEX32 = re.compile(r"^[0-9a-f]{32}$")
# A request alone waits this long for others to join its batch on the `slow_queue` model,
# so a deadline shorter than it expires while the request is still queued.
SLOW_QUEUE_DELAY_US = 5_000_000


def build_repository(repo):
    copy_model(repo, "simple")
    copy_model(repo, "simple", "slow_queue")
    (repo / "slow_queue" / "config.toml").write_text(
        simple_config(max_batch_size=8, max_queue_delay_us=SLOW_QUEUE_DELAY_US))


def executions(test: ServerTestCase, model: str) -> float:
    text = test.get("/metrics").text
    return metric(parse_metrics(text), "ferry_execution_count_total", model=model) or 0.0


class HttpRequestIdTest(ServerTestCase):
    build_repository = classmethod(lambda cls, repo: build_repository(repo))
    required_models = classmethod(lambda cls: ("simple",))

    def request(self, request_id=None):
        a = np.arange(16).reshape(1, 16)
        return simple_request(a, np.ones((1, 16), dtype=np.int32), request_id=request_id)

    def test_a_fresh_id_comes_back_in_the_header_and_the_body(self):
        seen = set()
        for _ in range(3):
            r = self.infer("simple", self.request())
            body = self.assertOk(r)
            self.assertRegex(r.headers["X-Request-Id"], HEX32)
            self.assertEqual(body["id"], r.headers["X-Request-Id"])
            seen.add(body["id"])
        self.assertEqual(len(seen), 3)

    def test_the_clients_header_names_the_request(self):
        r = self.infer("simple", self.request(), headers={"Content-Type": "application/json",
                                                           "X-Request-Id": "order-17/b"})
        body = self.assertOk(r)
        self.assertEqual(r.headers["X-Request-Id"], "order-17/b")
        self.assertEqual(body["id"], "order-17/b")

    def test_the_body_id_is_echoed_and_names_the_request(self):
        r = self.infer("simple", self.request("from-body"))
        self.assertEqual(self.assertOk(r)["id"], "from-body")
        self.assertEqual(r.headers["X-Request-Id"], "from-body")
        # A body id that cannot go in a header is still echoed as sent.
        odd = "ünïcødé \n"
        r = self.infer("simple", self.request(odd))
        self.assertEqual(self.assertOk(r)["id"], odd)
        self.assertRegex(r.headers["X-Request-Id"], HEX32)

    def test_a_bad_header_id_is_a_400_naming_the_header(self):
        for bad in ("x" * 129, "tab\there"):
            r = self.infer("simple", self.request(), headers={"Content-Type": "application/json",
                                                               "X-Request-Id": bad})
            self.assertError(r, 400, mentions=["X-Request-Id"])
            self.assertRegex(r.headers["X-Request-Id"], HEX32)
        self.assertServerAnswers()

    def test_errors_carry_the_request_id_too(self):
        r = self.infer("nope", self.request(), headers={"Content-Type": "application/json",
                                                         "X-Request-Id": "lost-1"})
        self.assertError(r, 404)
        self.assertEqual(r.headers["X-Request-Id"], "lost-1")


class HttpDeadlineTest(ServerTestCase):
    build_repository = classmethod(lambda cls, repo: build_repository(repo))
    required_models = classmethod(lambda cls: ("simple",))

    def request(self, timeout=None):
        body = simple_request(np.zeros((1, 16), dtype=np.int32), np.ones((1, 16), dtype=np.int32))
        if timeout is not None:
            body["parameters"] = {"timeout": timeout}
        return body

    def test_a_request_queued_past_its_timeout_is_never_run(self):
        before = executions(self, "slow_queue")
        start = time.monotonic()
        r = self.infer("slow_queue", self.request(timeout=200_000))
        elapsed = time.monotonic() - start
        self.assertError(r, 504, mentions=["deadline"])
        # Dropped at its deadline, not when the batch would have been due.
        self.assertLess(elapsed, SLOW_QUEUE_DELAY_US / 1e6 - 1)
        self.assertEqual(executions(self, "slow_queue"), before)
        values = parse_metrics(self.get("/metrics").text)
        self.assertGreaterEqual(metric(values, "ferry_requests_total", model="slow_queue",
                                       outcome="expired") or 0, 1)

    def test_a_generous_timeout_changes_nothing(self):
        body = self.assertOk(self.infer("simple", self.request(timeout=30_000_000)))
        self.assertEqual(body["outputs"][0]["data"], [1] * 16)

    def test_a_bad_timeout_is_a_400_naming_the_parameter(self):
        for bad in (0, -1, 1.5, "100", True):
            self.assertError(self.infer("simple", self.request(timeout=bad)), 400,
                             mentions=["timeout"])
        self.assertServerAnswers()


class GrpcRequestContextTest(GrpcTestCase):
    build_repository = classmethod(lambda cls, repo: build_repository(repo))
    required_models = classmethod(lambda cls: ("simple",))

    def call(self, request, metadata=(), timeout=30):
        return self.stub.ModelInfer.with_call(request, metadata=metadata, timeout=timeout)

    def request(self, model="simple", request_id=""):
        req = self.simple_request(np.zeros((1, 16)), np.ones((1, 16)), raw=True,
                                  request_id=request_id)
        req.model_name = model
        return req

    def test_ids_come_back_in_metadata_and_the_response(self):
        resp, call = self.call(self.request())
        sent_back = dict(call.initial_metadata())["x-request-id"]
        self.assertRegex(sent_back, HEX32)
        self.assertEqual(resp.id, sent_back)

        resp, call = self.call(self.request(), metadata=[("x-request-id", "grpc-7")])
        self.assertEqual(dict(call.initial_metadata())["x-request-id"], "grpc-7")
        self.assertEqual(resp.id, "grpc-7")

        resp, call = self.call(self.request(request_id="body-3"))
        self.assertEqual(dict(call.initial_metadata())["x-request-id"], "body-3")
        self.assertEqual(resp.id, "body-3")

    def test_a_bad_metadata_id_is_invalid_argument(self):
        import grpc
        with self.assertRaises(grpc.RpcError) as caught:
            self.call(self.request(), metadata=[("x-request-id", "y" * 200)])
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("x-request-id", caught.exception.details())

    def test_a_deadline_that_passes_in_the_queue_never_runs(self):
        import grpc
        before = executions(self, "slow_queue")
        with self.assertRaises(grpc.RpcError) as caught:
            self.call(self.request("slow_queue"), timeout=0.3)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        time.sleep(0.5)  # the server drops it at the deadline (or when gRPC cancels it)
        self.assertEqual(executions(self, "slow_queue"), before)
        self.assertEqual(self.call(self.request())[0].model_name, "simple")


if __name__ == "__main__":
    unittest.main()
