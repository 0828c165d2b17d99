"""The happy path of the Open Inference Protocol over HTTP against the bundled models:
health, server and model metadata, readiness, inference with real Fashion-MNIST images,
the classification extension, and the exact `simple` model."""

import json
import socket
import unittest

import numpy as np

from server import (EXAMPLES, EXTENSIONS, FASHION_LABELS, ServerTestCase, fashion_test_set,
                    image_request, model_config, output, output_array, raw_exchange,
                    simple_request, status_of)

BUNDLED = ("fashion_cnn", "fashion_mlp", "simple")


class ApiTest(ServerTestCase):
    models = BUNDLED

    # ---- health and metadata ----

    def test_health_live_and_ready(self):
        for path, key in (("/v2/health/live", "live"), ("/v2/health/ready", "ready")):
            r = self.get(path)
            self.assertEqual(r.status_code, 200, path)
            self.assertEqual(r.json(), {key: True}, path)

    def test_server_metadata(self):
        for path in ("/v2", "/v2/"):
            body = self.assertOk(self.get(path))
            self.assertEqual(body["name"], "ferry", path)
            self.assertIsInstance(body["version"], str)
            self.assertTrue(body["version"], "version must be non-empty")
            self.assertIsInstance(body["extensions"], list)
            self.assertTrue(all(isinstance(e, str) for e in body["extensions"]))
            self.assertEqual(body["extensions"], EXTENSIONS)

    def test_model_metadata_matches_config(self):
        for name in BUNDLED:
            config = model_config(name)
            for path in (f"/v2/models/{name}", f"/v2/models/{name}/versions/1"):
                with self.subTest(path=path):
                    body = self.assertOk(self.get(path))
                    self.assertEqual(body["name"], name)
                    self.assertIn("1", body["versions"])
                    self.assertIsInstance(body["platform"], str)
                    self.assertTrue(body["platform"])
                    for kind in ("inputs", "outputs"):
                        want = [{"name": t["name"], "datatype": t["datatype"], "shape": t["shape"]}
                                for t in config[kind]]
                        got = [{"name": t["name"], "datatype": t["datatype"], "shape": t["shape"]}
                               for t in body[kind]]
                        self.assertEqual(got, want, kind)

    def test_model_ready(self):
        for name in BUNDLED:
            for path in (f"/v2/models/{name}/ready", f"/v2/models/{name}/versions/1/ready"):
                r = self.get(path)
                self.assertEqual(r.status_code, 200, f"{path}: {r.text}")

    def test_unknown_model_is_404(self):
        for path in ("/v2/models/no_such_model", "/v2/models/no_such_model/ready",
                     "/v2/models/no_such_model/versions/1"):
            self.assertError(self.get(path), 404, mentions=["no_such_model"])
        r = self.infer("no_such_model", image_request(np.zeros((1, 28, 28))))
        self.assertError(r, 404, mentions=["no_such_model"])

    def test_unknown_version_is_404(self):
        for path in ("/v2/models/fashion_cnn/versions/99", "/v2/models/fashion_cnn/versions/99/ready"):
            self.assertError(self.get(path), 404, mentions=["99"])
        r = self.infer("fashion_cnn", image_request(np.zeros((1, 28, 28))), version="99")
        self.assertError(r, 404, mentions=["99"])

    def test_unknown_path_is_404(self):
        for path in ("/", "/v2/nothing", "/v2/models/fashion_cnn/nothing", "/v3/health/live"):
            r = self.get(path)
            self.assertError(r, 404)

    # ---- inference on fashion models ----

    def _accuracy(self, model, min_correct):
        images, labels = fashion_test_set()
        n = min(32, len(labels))
        body = self.assertOk(self.infer(model, image_request(images[:n])))
        self.assertEqual(body["model_name"], model)
        out = output(body, "logits")
        self.assertEqual(out["datatype"], "FP32")
        self.assertEqual(out["shape"], [n, 10])
        logits = output_array(body, "logits")
        predicted = logits.argmax(axis=1)
        correct = int((predicted == labels[:n]).sum())
        self.assertGreaterEqual(correct, min_correct * n // 32,
                                f"{model}: {correct}/{n} correct; predicted {predicted.tolist()}, "
                                f"true {labels[:n].tolist()}")

    def test_fashion_cnn_classifies_real_images(self):
        self._accuracy("fashion_cnn", 28)

    def test_fashion_mlp_classifies_real_images(self):
        self._accuracy("fashion_mlp", 26)

    def test_example_requests(self):
        expected = json.loads((EXAMPLES / "expected.json").read_text())
        for fname, rows in expected["requests"].items():
            with self.subTest(example=fname):
                request = json.loads((EXAMPLES / fname).read_text())
                body = self.assertOk(self.infer("fashion_cnn", request))
                self.assertEqual(body["id"], request["id"])
                self.assertEqual(body["model_version"], "1")
                out = body["outputs"][0]
                self.assertEqual(out["shape"][0], len(rows))

    def test_flat_and_nested_data_give_identical_logits(self):
        images, _ = fashion_test_set()
        flat = output_array(self.assertOk(self.infer("fashion_cnn", image_request(images[:4]))), "logits")
        nested = output_array(self.assertOk(
            self.infer("fashion_cnn", image_request(images[:4], nested=True))), "logits")
        self.assertEqual(flat.shape, (4, 10))
        np.testing.assert_allclose(nested, flat, rtol=1e-5, atol=1e-5)

    def test_single_image_answers_match_the_batch(self):
        images, _ = fashion_test_set()
        batch = output_array(self.assertOk(self.infer("fashion_cnn", image_request(images[:4]))), "logits")
        for i in range(4):
            one = output_array(self.assertOk(self.infer("fashion_cnn", image_request(images[i:i + 1]))),
                               "logits")
            np.testing.assert_allclose(one[0], batch[i], rtol=1e-3, atol=1e-3)

    def test_integer_pixels_equal_float_pixels(self):
        images, _ = fashion_test_set()
        floats = image_request(images[:2])
        ints = image_request(images[:2])
        ints["inputs"][0]["data"] = [int(v) for v in ints["inputs"][0]["data"]]
        self.assertNotIn(".", json.dumps(ints["inputs"][0]["data"]))
        a = output_array(self.assertOk(self.infer("fashion_cnn", floats)), "logits")
        b = output_array(self.assertOk(self.infer("fashion_cnn", ints)), "logits")
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)

    def test_expect_100_continue(self):
        # curl sends "Expect: 100-continue" for bodies over 1 KiB and waits up to 1 s for it.
        body = (EXAMPLES / "infer_cnn_1.json").read_bytes()
        head = (b"POST /v2/models/fashion_cnn/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        with socket.create_connection((self.server.host, self.server.port), timeout=10) as s:
            s.sendall(head)
            s.settimeout(0.9)
            try:
                interim = s.recv(4096)
            except socket.timeout:
                self.fail("no '100 Continue' within 0.9 s: curl would stall for a second")
            self.assertTrue(interim.startswith(b"HTTP/1.1 100"), interim[:100])
            s.settimeout(10)
            s.sendall(body)
            data = b""
            while b'"outputs"' not in data or not data.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        self.assertIn(b"HTTP/1.1 200", data)
        self.assertIn(b'"id":"example-1"', data.replace(b" ", b""))

    def test_http_1_0_client(self):
        raw = raw_exchange(self.server.host, self.server.port,
                           b"GET /v2/health/ready HTTP/1.0\r\n\r\n", timeout=10)
        self.assertEqual(status_of(raw), 200, raw[:200])
        self.assertTrue(raw.endswith(b'{"ready":true}'), raw[-100:])

    def test_query_string_is_ignored(self):
        self.assertEqual(self.get("/v2/health/live?verbose=1").status_code, 200)

    def test_id_is_echoed(self):
        images, _ = fashion_test_set()
        for rid in ("abc-123", "ünïcødé \"quoted\" \\ / \n tab\t"):
            body = self.assertOk(self.infer("fashion_cnn", image_request(images[:1], request_id=rid)))
            self.assertEqual(body.get("id"), rid)

    def test_requested_outputs_are_honoured(self):
        images, _ = fashion_test_set()
        body = self.assertOk(self.infer("fashion_cnn", image_request(
            images[:2], outputs=[{"name": "logits"}])))
        self.assertEqual([o["name"] for o in body["outputs"]], ["logits"])
        a = np.arange(16)
        for wanted in (["OUTPUT1"], ["OUTPUT0"], ["OUTPUT1", "OUTPUT0"]):
            req = simple_request(a, a)
            req["outputs"] = [{"name": n} for n in wanted]
            body = self.assertOk(self.infer("simple", req))
            self.assertEqual(sorted(o["name"] for o in body["outputs"]), sorted(wanted))

    def test_versioned_path(self):
        images, labels = fashion_test_set()
        body = self.assertOk(self.infer("fashion_cnn", image_request(images[:1]), version="1"))
        self.assertEqual(body["model_name"], "fashion_cnn")
        self.assertEqual(body["model_version"], "1")
        plain = self.assertOk(self.infer("fashion_cnn", image_request(images[:1])))
        self.assertEqual(plain["model_version"], "1")
        np.testing.assert_allclose(output_array(body, "logits"), output_array(plain, "logits"),
                                   rtol=1e-5, atol=1e-5)

    def test_classification_top3(self):
        images, _ = fashion_test_set()
        n = 4
        logits = output_array(self.assertOk(self.infer("fashion_cnn", image_request(images[:n]))), "logits")
        body = self.assertOk(self.infer("fashion_cnn", image_request(
            images[:n], request_id="top3", outputs=[{"name": "logits", "parameters": {"classification": 3}}])))
        self.assertEqual(body["id"], "top3")
        out = output(body, "logits")
        self.assertEqual(out["datatype"], "BYTES")
        self.assertEqual(out["shape"], [n, 3])
        rows = np.asarray(out["data"], dtype=object).reshape(n, 3)
        for i in range(n):
            parsed = []
            for s in rows[i]:
                self.assertIsInstance(s, str)
                value, index, label = s.split(":", 2)
                parsed.append((float(value), int(index), label))
            order = np.argsort(-logits[i])[:3]
            self.assertEqual([p[1] for p in parsed], order.tolist(), f"row {i}: {rows[i]}")
            self.assertEqual(parsed[0][1], int(logits[i].argmax()))
            for value, index, label in parsed:
                self.assertEqual(label, FASHION_LABELS[index])
                self.assertAlmostEqual(value, float(logits[i][index]), delta=1e-3 * (1 + abs(value)))
            values = [p[0] for p in parsed]
            self.assertEqual(values, sorted(values, reverse=True))

    def test_classification_example(self):
        expected = json.loads((EXAMPLES / "expected.json").read_text())
        request = json.loads((EXAMPLES / "infer_top3.json").read_text())
        body = self.assertOk(self.infer("fashion_cnn", request))
        out = output(body, "logits")
        self.assertEqual(out["shape"], [1, 3])
        labels = [s.split(":", 2)[2] for s in out["data"]]
        true_label = expected["requests"]["infer_top3.json"][0]["label_name"]
        self.assertIn(true_label, labels, f"true class should be in the top 3: {out['data']}")

    # ---- simple: exact integer arithmetic ----

    def test_simple_sum_and_difference(self):
        rng = np.random.default_rng(7)
        for rows in (1, 3, 8):
            a = rng.integers(-1000000, 1000000, size=(rows, 16))
            b = rng.integers(-1000000, 1000000, size=(rows, 16))
            body = self.assertOk(self.infer("simple", simple_request(a, b, request_id=f"s{rows}")))
            self.assertEqual(body["id"], f"s{rows}")
            for name, want in (("OUTPUT0", a + b), ("OUTPUT1", a - b)):
                out = output(body, name)
                self.assertEqual(out["datatype"], "INT32")
                self.assertEqual(out["shape"], [rows, 16])
                self.assertEqual(out["data"], want.reshape(-1).tolist(), name)

    def test_simple_example(self):
        expected = json.loads((EXAMPLES / "expected.json").read_text())["simple"]
        request = json.loads((EXAMPLES / expected["request"]).read_text())
        body = self.assertOk(self.infer("simple", request))
        self.assertEqual(output(body, "OUTPUT0")["data"], expected["OUTPUT0"])
        self.assertEqual(output(body, "OUTPUT1")["data"], expected["OUTPUT1"])


if __name__ == "__main__":
    unittest.main()
