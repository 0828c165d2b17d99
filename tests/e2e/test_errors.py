"""Everything a client can get wrong gets a 4xx with {"error": "..."} naming the problem,
and the server keeps answering afterwards."""

import copy
import gzip
import json
import socket
import time
import unittest
import zlib

import numpy as np
import requests

from server import (ServerTestCase, fashion_test_set, image_request, output, raw_exchange,
                    simple_request, status_of)


def good_image_request(n=1):
    images, _ = fashion_test_set()
    return image_request(images[:n])


class InferErrorsTest(ServerTestCase):
    models = ("fashion_cnn", "simple")

    def bad(self, body=None, data=None, status=400, mentions=(), any_of=(), model="fashion_cnn"):
        r = self.infer(model, body=body, data=data)
        return self.assertError(r, status, mentions=mentions, any_of=any_of)

    def test_a_good_request_works(self):
        # Guards the rest: the base request they corrupt is itself valid.
        body = self.assertOk(self.infer("fashion_cnn", good_image_request()))
        self.assertEqual(output(body, "logits")["shape"], [1, 10])

    # ---- malformed JSON ----

    def test_empty_body(self):
        self.bad(data=b"")

    def test_truncated_json(self):
        text = json.dumps(good_image_request())
        self.bad(data=text[: len(text) // 2])

    def test_not_json(self):
        self.bad(data=b"this is not json")
        self.bad(data=b"\x00\xff\xfe binary")

    def test_json_but_not_an_object(self):
        for text in ("[]", "42", '"inputs"', "null"):
            with self.subTest(body=text):
                self.bad(data=text)

    def test_trailing_garbage_after_json(self):
        self.bad(data=json.dumps(good_image_request()) + " }{")

    # ---- structure ----

    def test_missing_inputs(self):
        self.bad(body={"id": "x"}, mentions=["inputs"])
        self.bad(body={"inputs": []}, any_of=["inputs", "image"])

    def test_inputs_not_a_list(self):
        self.bad(body={"inputs": {"name": "image"}}, mentions=["inputs"])

    def test_missing_tensor_fields(self):
        for field in ("name", "shape", "datatype", "data"):
            with self.subTest(missing=field):
                body = good_image_request()
                del body["inputs"][0][field]
                self.bad(body=body, mentions=[field])

    def test_unknown_input_name(self):
        body = good_image_request()
        body["inputs"][0]["name"] = "imagex"
        self.bad(body=body, mentions=["imagex"])

    def test_duplicate_input(self):
        body = good_image_request()
        body["inputs"].append(copy.deepcopy(body["inputs"][0]))
        self.bad(body=body, mentions=["image"])

    def test_missing_second_input(self):
        body = simple_request(np.arange(16), np.arange(16))
        del body["inputs"][1]
        self.bad(body=body, model="simple", mentions=["INPUT1"])

    def test_wrong_datatype(self):
        body = good_image_request()
        body["inputs"][0]["datatype"] = "INT32"
        body["inputs"][0]["data"] = [int(v) for v in body["inputs"][0]["data"]]
        self.bad(body=body, mentions=["image"], any_of=["FP32", "INT32", "datatype"])

    def test_unknown_datatype(self):
        body = good_image_request()
        body["inputs"][0]["datatype"] = "FLOAT99"
        self.bad(body=body, any_of=["FLOAT99", "datatype"])

    def test_element_count_differs_from_shape(self):
        body = good_image_request()
        body["inputs"][0]["data"] = body["inputs"][0]["data"][:700]
        self.bad(body=body, mentions=["image"])
        body = good_image_request()
        body["inputs"][0]["data"] = body["inputs"][0]["data"] + [0.0]
        self.bad(body=body, mentions=["image"])

    def test_shape_not_matching_signature(self):
        for shape in ([1, 28, 28], [1, 1, 28, 27], [1, 784], [1, 2, 28, 14]):
            with self.subTest(shape=shape):
                body = good_image_request()
                body["inputs"][0]["shape"] = shape
                self.bad(body=body, mentions=["image"])

    def test_bad_shape_values(self):
        for shape in ([-1, 1, 28, 28], [0, 1, 28, 28], "1x784", [1.5, 1, 28, 28], ["1", 1, 28, 28],
                      [1, 1, 28, 28, 1], [2**62, 1, 28, 28], []):
            with self.subTest(shape=shape):
                body = good_image_request()
                body["inputs"][0]["shape"] = shape
                self.bad(body=body, any_of=["shape", "image", "batch"])

    def test_batch_above_max_batch_size(self):
        images, _ = fashion_test_set()
        reps = int(np.ceil(65 / len(images)))
        batch = np.tile(images, (reps, 1, 1))[:65]
        self.bad(body=image_request(batch), any_of=["64", "max_batch_size", "batch"])

    def test_wrong_element_types(self):
        for data in (["a"] * 784, [None] * 784, [{"x": 1}] * 784):
            with self.subTest(element=repr(data[0])):
                body = good_image_request()
                body["inputs"][0]["data"] = data
                self.bad(body=body, mentions=["image"])

    def test_int32_out_of_range_and_fractions(self):
        for bad in (2**31, -(2**31) - 1, 1.5):
            with self.subTest(value=bad):
                a = list(range(16))
                body = simple_request(np.arange(16), np.arange(16))
                body["inputs"][0]["data"] = a[:15] + [bad]
                self.bad(body=body, model="simple", mentions=["INPUT0"])

    def test_nan_and_infinity(self):
        text = json.dumps(good_image_request())
        for literal in ("NaN", "1e999", "-1e999", "Infinity", "-Infinity", "nan"):
            with self.subTest(literal=literal):
                self.bad(data=text.replace("0.0", literal, 1))

    def test_values_out_of_fp32_range(self):
        for value in (1e39, -1e39, 1e308):
            with self.subTest(value=value):
                body = good_image_request()
                body["inputs"][0]["data"][5] = value
                self.bad(body=body, mentions=["image"])

    def test_deeply_nested_arrays(self):
        body = good_image_request()
        text = json.dumps(body)
        data_start = text.index('"data": [') + len('"data": ')
        for depth in (1000, 100000):
            with self.subTest(depth=depth):
                self.bad(data=text[:data_start] + "[" * depth + "]" * depth + "}]}")
                self.bad(data="[" * depth)
                self.bad(data='{"inputs":' + "[" * depth)
        self.assertServerAnswers()

    def test_ragged_nested_data(self):
        body = image_request(fashion_test_set()[0][:2], nested=True)
        body["inputs"][0]["data"][1][0].pop()  # one row of the second image is short
        self.bad(body=body, mentions=["image"])

    def test_unknown_output(self):
        body = good_image_request()
        body["outputs"] = [{"name": "no_such_output"}]
        self.bad(body=body, mentions=["no_such_output"])

    def test_bad_classification_parameter(self):
        for value in (11, -1, "three", 2.5):
            with self.subTest(classification=value):
                body = good_image_request()
                body["outputs"] = [{"name": "logits", "parameters": {"classification": value}}]
                self.bad(body=body, mentions=["classification"])

    def test_id_must_be_a_string(self):
        body = good_image_request()
        body["id"] = {"nested": True}
        self.bad(body=body, mentions=["id"])

    # ---- HTTP-level errors ----

    def test_wrong_method(self):
        cases = [("DELETE", "/v2/models/fashion_cnn/infer", "POST"),
                 ("GET", "/v2/models/fashion_cnn/infer", "POST"),
                 ("PUT", "/v2/models/fashion_cnn/infer", "POST"),
                 ("POST", "/v2/health/live", "GET"),
                 ("POST", "/v2/health/ready", "GET"),
                 ("DELETE", "/v2/models/fashion_cnn", "GET"),
                 ("POST", "/metrics", "GET")]
        for method, path, allowed in cases:
            with self.subTest(method=method, path=path):
                r = self.http.request(method, self.url(path), data=b"{}", timeout=30)
                self.assertError(r, 405)
                self.assertIn(allowed, r.headers.get("Allow", ""), f"Allow header of {method} {path}")

    def test_garbage_request_line(self):
        for payload in (b"GARBAGE\r\n\r\n",
                        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),  # a TLS hello
                        b"GET /v2/health/live HTTP/9.9\r\n\r\n",
                        b"GET\r\n\r\n",
                        b"GET /v2/health/live\r\n\r\n"):
            with self.subTest(payload=payload[:20]):
                raw = raw_exchange(self.server.host, self.server.port, payload, timeout=5)
                status = status_of(raw)
                self.assertTrue((raw == b"" and raw.closed) or status in (400, 505),
                                f"expected 400 or a closed connection, got {raw[:200]!r} "
                                f"(closed={raw.closed})")
        self.assertServerAnswers()

    def test_garbage_headers(self):
        for payload in (b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
                        b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n",
                        b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
                        b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
                        b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Length: 2\r\nContent-Length: 7\r\n\r\n{}",
                        b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
                        b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n"):
            with self.subTest(payload=payload[:60]):
                raw = raw_exchange(self.server.host, self.server.port, payload, timeout=5)
                status = status_of(raw)
                self.assertTrue((raw == b"" and raw.closed) or (status is not None and 400 <= status < 500),
                                f"expected a 4xx or a closed connection, got {raw[:200]!r} "
                                f"(closed={raw.closed})")
        self.assertServerAnswers()

    def test_keep_alive_survives_errors(self):
        # Errors must not poison the connection: the next request on it still works.
        with requests.Session() as s:
            for _ in range(3):
                r = s.post(self.url("/v2/models/fashion_cnn/infer"), data=b"{bad", timeout=30)
                self.assertEqual(r.status_code, 400)
                r = s.post(self.url("/v2/models/fashion_cnn/infer"),
                           data=json.dumps(good_image_request()), timeout=30)
                self.assertEqual(r.status_code, 200, r.text[:300])

    def test_pipelined_requests(self):
        req = (b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with socket.create_connection((self.server.host, self.server.port), timeout=10) as s:
            s.sendall(req)
            data = b""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and data.count(b"HTTP/1.1 200") < 2:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        self.assertEqual(data.count(b"HTTP/1.1 200"), 2, data[:500])
        self.assertIn(b'"live"', data)
        self.assertIn(b'"ready"', data)


class BodyLimitTest(ServerTestCase):
    """A server started with --max-body-bytes 100000."""

    models = ("simple",)
    server_args = ("--max-body-bytes", "100000")

    def test_body_over_limit_is_413(self):
        body = json.dumps(simple_request(np.arange(16), np.arange(16)))
        big = body[:-1] + ", " + '"pad": "' + "x" * 200000 + '"}'
        r = self.infer("simple", data=big)
        self.assertError(r, 413)
        # Announced as too big before any of it is sent: answered from the headers alone.
        head = (b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n")
        raw = raw_exchange(self.server.host, self.server.port, head + b"{", timeout=10)
        self.assertEqual(status_of(raw), 413, raw[:300])
        self.assertServerAnswers()

    def test_body_under_limit_still_served(self):
        body = simple_request(np.arange(16), np.ones(16, dtype=int))
        text = json.dumps(body)
        padded = text[:-1] + " " * (90000 - len(text)) + "}"
        self.assertLess(len(padded), 100000)
        result = self.assertOk(self.infer("simple", data=padded))
        self.assertEqual(output(result, "OUTPUT0")["data"], list(range(1, 17)))

    def test_chunked_body_over_limit(self):
        # No Content-Length: the limit must hold for chunked bodies too.
        chunk = b"x" * 50000
        payload = (b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(4):
            payload += b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        payload += b"0\r\n\r\n"
        raw = raw_exchange(self.server.host, self.server.port, payload, timeout=10)
        self.assertTrue((raw == b"" and raw.closed) or status_of(raw) in (400, 413),
                        f"{raw[:300]!r} (closed={raw.closed})")
        self.assertServerAnswers()


class ContentEncodingTest(ServerTestCase):
    """Compressed request bodies (Content-Encoding gzip or deflate), as Triton's clients
    send them, on a server started with --max-body-bytes 100000."""

    models = ("simple",)
    server_args = ("--max-body-bytes", "100000")

    def body(self) -> bytes:
        return json.dumps(simple_request(np.arange(16), np.full(16, 2))).encode()

    def send(self, data: bytes, encoding: str) -> requests.Response:
        return self.infer("simple", data=data, headers={"Content-Type": "application/json",
                                                        "Content-Encoding": encoding})

    def test_gzip_and_deflate_bodies_answer_as_plain_ones(self):
        plain = self.assertOk(self.infer("simple", data=self.body()))
        for encoding, data in (("gzip", gzip.compress(self.body())),
                               ("deflate", zlib.compress(self.body())),
                               ("identity", self.body())):
            answer = self.assertOk(self.send(data, encoding))
            self.assertEqual(output(answer, "OUTPUT0"), output(plain, "OUTPUT0"), encoding)
            self.assertEqual(output(answer, "OUTPUT1")["data"], list(range(-2, 14)), encoding)

    def test_unsupported_coding_is_415_naming_it(self):
        self.assertError(self.send(self.body(), "br"), 415, mentions=["br", "not supported"])

    def test_a_body_that_does_not_inflate_is_400(self):
        self.assertError(self.send(self.body(), "gzip"), 400, mentions=["gzip"])
        cut = gzip.compress(self.body())
        self.assertError(self.send(cut[:len(cut) // 2], "gzip"), 400, mentions=["ends before"])
        # deflate means the zlib format; a gzip stream under that label does not inflate.
        self.assertError(self.send(gzip.compress(self.body()), "deflate"), 400, mentions=["deflate"])
        self.assertServerAnswers()

    def test_inflating_past_the_body_limit_is_413(self):
        bomb = gzip.compress(b" " * 5_000_000)
        self.assertLess(len(bomb), 100000)
        self.assertError(self.send(bomb, "gzip"), 413, mentions=["100000"])
        self.assertOk(self.send(gzip.compress(self.body()), "gzip"))


if __name__ == "__main__":
    unittest.main()
