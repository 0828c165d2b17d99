"""The binary tensor data extension over HTTP with a real client (`requests`): the example
of the protocol page, the `simple` model in binary, real Fashion-MNIST images in binary
giving the same logits as JSON, binary outputs (also classification BYTES), the raw
single-input request, and every malformed binary request getting a 400 that names the
problem."""

import json
import struct
import unittest
from typing import List, Optional, Sequence, Tuple

import numpy as np

from server import ServerTestCase, fashion_test_set, image_request, output, output_array

HEADER = "Inference-Header-Content-Length"


def frame(header: dict, *tensors: bytes) -> Tuple[bytes, int]:
    """(body, JSON length): the JSON header followed by the tensors' raw bytes."""
    head = json.dumps(header).encode()
    return head + b"".join(tensors), len(head)


def bytes_elements(values: Sequence[bytes]) -> bytes:
    """BYTES elements as the extension frames them: 4-byte little-endian length + bytes."""
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


def split_bytes_elements(raw: bytes) -> List[bytes]:
    out, offset = [], 0
    while offset < len(raw):
        (n,) = struct.unpack_from("<I", raw, offset)
        out.append(raw[offset + 4: offset + 4 + n])
        offset += 4 + n
    return out


def binary_input(name: str, array: np.ndarray, datatype: str) -> dict:
    return {"name": name, "shape": list(array.shape), "datatype": datatype,
            "parameters": {"binary_data_size": array.nbytes}}


class BinaryTest(ServerTestCase):
    models = ("fashion_cnn", "simple")

    # -- helpers --

    def post_binary(self, model: str, body: bytes, json_size: Optional[int], extra=None):
        headers = {"Content-Type": "application/octet-stream"}
        if json_size is not None:
            headers[HEADER] = str(json_size)
        headers.update(extra or {})
        return self.http.post(self.url(f"/v2/models/{model}/infer"), data=body, headers=headers,
                              timeout=60)

    def split_response(self, r) -> Tuple[dict, bytes]:
        """(JSON, binary part) of a 200 response that has binary outputs."""
        self.assertEqual(r.status_code, 200, r.content[:300])
        self.assertEqual(r.headers.get("Content-Type"), "application/octet-stream")
        n = int(r.headers[HEADER])
        self.assertEqual(int(r.headers["Content-Length"]), len(r.content))
        return json.loads(r.content[:n]), r.content[n:]

    def binary_outputs(self, r) -> dict:
        """name -> raw bytes of every binary output, checking their sizes add up."""
        header, rest = self.split_response(r)
        out, offset = {}, 0
        for o in header["outputs"]:
            size = o.get("parameters", {}).get("binary_data_size")
            if size is None:
                self.assertIn("data", o)
                continue
            self.assertNotIn("data", o, "a binary output must not carry 'data'")
            out[o["name"]] = (o, rest[offset: offset + size])
            offset += size
        self.assertEqual(offset, len(rest), "binary outputs must fill the rest of the body exactly")
        return out

    def simple_binary(self, a: np.ndarray, b: np.ndarray, outputs=None, params=None):
        a = a.astype("<i4")
        b = b.astype("<i4")
        header = {"inputs": [binary_input("INPUT0", a, "INT32"), binary_input("INPUT1", b, "INT32")]}
        if outputs is not None:
            header["outputs"] = outputs
        if params is not None:
            header["parameters"] = params
        return frame(header, a.tobytes(), b.tobytes())

    # ---- the protocol page's example ----

    def test_protocol_example_vector_is_framed_and_then_checked_against_the_model(self):
        # UINT32 [2, 2] and BOOL [3]: 16 + 3 bytes after the JSON. The framing is fine, so
        # the answer names what `simple` does not take (not a framing error).
        header = {"model_name": "mymodel",
                  "inputs": [{"name": "input0", "shape": [2, 2], "datatype": "UINT32",
                              "parameters": {"binary_data_size": 16}},
                             {"name": "input1", "shape": [3], "datatype": "BOOL",
                              "parameters": {"binary_data_size": 3}}],
                  "outputs": [{"name": "output0", "parameters": {"binary_data": True}}]}
        body, n = frame(header, struct.pack("<4I", 1, 2, 3, 4), b"\x01\x00\x01")
        self.assertEqual(len(body), n + 19)
        message = self.assertError(self.post_binary("simple", body, n), 400, mentions=["output0"])
        self.assertNotIn("binary_data_size", message)
        del header["outputs"]
        body, n = frame(header, struct.pack("<4I", 1, 2, 3, 4), b"\x01\x00\x01")
        message = self.assertError(self.post_binary("simple", body, n), 400,
                                   mentions=["input0", "INPUT0"])
        self.assertNotIn("binary_data_size", message)
        # The same vector one byte short is a framing error naming the sizes.
        self.assertError(self.post_binary("simple", body[:-1], n), 400,
                         mentions=["binary_data_size", "19", "18"])

    # ---- simple ----

    def test_simple_binary_in_json_out(self):
        a = np.arange(16).reshape(1, 16)
        b = np.full((1, 16), 5)
        body, n = self.simple_binary(a, b)
        r = self.post_binary("simple", body, n)
        data = self.assertOk(r)
        self.assertEqual(r.headers.get("Content-Type"), "application/json")
        self.assertNotIn(HEADER, r.headers)
        self.assertEqual(output(data, "OUTPUT0")["data"], (a + b).reshape(-1).tolist())
        self.assertEqual(output(data, "OUTPUT1")["data"], (a - b).reshape(-1).tolist())

    def test_simple_binary_in_binary_out(self):
        rng = np.random.default_rng(3)
        a = rng.integers(-2**30, 2**30, size=(3, 16))
        b = rng.integers(-2**30, 2**30, size=(3, 16))
        body, n = self.simple_binary(a, b, outputs=[
            {"name": "OUTPUT1", "parameters": {"binary_data": True}}, {"name": "OUTPUT0"}])
        outs = self.binary_outputs(self.post_binary("simple", body, n))
        self.assertEqual(list(outs), ["OUTPUT1"])
        meta, raw = outs["OUTPUT1"]
        self.assertEqual((meta["datatype"], meta["shape"]), ("INT32", [3, 16]))
        np.testing.assert_array_equal(np.frombuffer(raw, "<i4").reshape(3, 16), a - b)

    def test_request_level_binary_data_output(self):
        a = np.arange(32).reshape(2, 16)
        body, n = self.simple_binary(a, a, params={"binary_data_output": True})
        outs = self.binary_outputs(self.post_binary("simple", body, n))
        self.assertEqual(sorted(outs), ["OUTPUT0", "OUTPUT1"])
        np.testing.assert_array_equal(np.frombuffer(outs["OUTPUT0"][1], "<i4").reshape(2, 16), 2 * a)
        np.testing.assert_array_equal(np.frombuffer(outs["OUTPUT1"][1], "<i4"), 0)
        # A JSON-only request may ask for binary outputs too.
        req = {"inputs": [{"name": n, "shape": [2, 16], "datatype": "INT32",
                           "data": a.reshape(-1).tolist()} for n in ("INPUT0", "INPUT1")],
               "parameters": {"binary_data_output": True},
               "outputs": [{"name": "OUTPUT0"}, {"name": "OUTPUT1", "parameters": {"binary_data": False}}]}
        r = self.infer("simple", req)
        outs = self.binary_outputs(r)
        self.assertEqual(list(outs), ["OUTPUT0"])
        header, _ = self.split_response(r)
        self.assertEqual(output(header, "OUTPUT1")["data"], [0] * 32)

    def test_json_and_binary_inputs_mix(self):
        a = np.arange(16).reshape(1, 16).astype("<i4")
        header = {"inputs": [{"name": "INPUT0", "shape": [1, 16], "datatype": "INT32",
                              "data": a.reshape(-1).tolist()},
                             binary_input("INPUT1", a, "INT32")]}
        body, n = frame(header, a.tobytes())
        data = self.assertOk(self.post_binary("simple", body, n))
        self.assertEqual(output(data, "OUTPUT0")["data"], (2 * a).reshape(-1).tolist())

    # ---- real images ----

    def image_binary(self, images: np.ndarray, outputs=None):
        pixels = images.reshape(-1, 1, 28, 28).astype("<f4")
        header = {"inputs": [binary_input("image", pixels, "FP32")]}
        if outputs is not None:
            header["outputs"] = outputs
        return frame(header, pixels.tobytes())

    def test_fashion_image_in_binary_gives_the_json_logits(self):
        images, labels = fashion_test_set()
        for count in (1, 4):
            with self.subTest(images=count):
                want = output_array(self.assertOk(self.infer("fashion_cnn", image_request(images[:count]))),
                                    "logits")
                body, n = self.image_binary(images[:count])
                got = output_array(self.assertOk(self.post_binary("fashion_cnn", body, n)), "logits")
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
                # And with the logits coming back in binary: the same floats, bit for bit
                # what JSON's shortest round-trip text gives.
                body, n = self.image_binary(images[:count], outputs=[
                    {"name": "logits", "parameters": {"binary_data": True}}])
                meta, raw = self.binary_outputs(self.post_binary("fashion_cnn", body, n))["logits"]
                self.assertEqual((meta["datatype"], meta["shape"]), ("FP32", [count, 10]))
                binary_logits = np.frombuffer(raw, "<f4").reshape(count, 10)
                np.testing.assert_allclose(binary_logits, want, rtol=1e-5, atol=1e-5)
                self.assertEqual(binary_logits.argmax(axis=1).tolist(), want.argmax(axis=1).tolist())

    def test_classification_output_in_binary(self):
        images, _ = fashion_test_set()
        logits = output_array(self.assertOk(self.infer("fashion_cnn", image_request(images[:2]))), "logits")
        body, n = self.image_binary(images[:2], outputs=[
            {"name": "logits", "parameters": {"classification": 3, "binary_data": True}}])
        meta, raw = self.binary_outputs(self.post_binary("fashion_cnn", body, n))["logits"]
        self.assertEqual((meta["datatype"], meta["shape"]), ("BYTES", [2, 3]))
        elements = split_bytes_elements(raw)
        self.assertEqual(len(elements), 6)
        for row in range(2):
            indices = [int(e.decode().split(":")[1]) for e in elements[3 * row: 3 * row + 3]]
            self.assertEqual(indices, np.argsort(-logits[row])[:3].tolist())

    # ---- the raw request ----

    def test_raw_single_input_request(self):
        images, _ = fashion_test_set()
        want = output_array(self.assertOk(self.infer("fashion_cnn", image_request(images[:1]))), "logits")
        raw_image = images[0].astype("<f4").tobytes()
        self.assertEqual(len(raw_image), 28 * 28 * 4)
        r = self.post_binary("fashion_cnn", raw_image, 0)
        outs = self.binary_outputs(r)   # every output comes back binary
        meta, raw = outs["logits"]
        self.assertEqual((meta["datatype"], meta["shape"]), ("FP32", [1, 10]))
        np.testing.assert_allclose(np.frombuffer(raw, "<f4").reshape(1, 10), want, rtol=1e-5, atol=1e-5)

    def test_raw_request_errors(self):
        self.assertError(self.post_binary("simple", np.zeros(32, "<i4").tobytes(), 0), 400,
                         mentions=["exactly one input", "INPUT0", "INPUT1"])
        self.assertError(self.post_binary("fashion_cnn", b"\x00" * 100, 0), 400,
                         mentions=["100 bytes", "3136"])
        self.assertError(self.post_binary("fashion_cnn", b"", 0), 400, mentions=["empty"])
        self.assertError(self.post_binary("no_such_model", b"\x00" * 4, 0), 404,
                         mentions=["no_such_model"])

    # ---- every malformed binary request ----

    def test_bad_header_values(self):
        a = np.zeros((1, 16))
        body, n = self.simple_binary(a, a)
        for value in ("abc", "-1", "1.5", "", "12,12"):
            with self.subTest(header=value):
                self.assertError(self.post_binary("simple", body, None, {HEADER: value}), 400,
                                 mentions=[HEADER, "not a non-negative integer"])
        self.assertError(self.post_binary("simple", body, len(body) + 1), 400,
                         mentions=[HEADER, str(len(body) + 1), f"only {len(body)} bytes"])
        # Cut inside the JSON.
        self.assertError(self.post_binary("simple", body, n - 3), 400, mentions=["not valid JSON"])

    def test_binary_data_size_must_match_shape_and_datatype(self):
        a = np.zeros((1, 16), "<i4")
        header = {"inputs": [dict(binary_input("INPUT0", a, "INT32"), parameters={"binary_data_size": 60}),
                             binary_input("INPUT1", a, "INT32")]}
        body, n = frame(header, a.tobytes()[:60], a.tobytes())
        self.assertError(self.post_binary("simple", body, n), 400,
                         mentions=["INPUT0", "binary_data_size", "60", "64"])
        for bad in (-64, "64", 64.5, None, [64]):
            with self.subTest(size=bad):
                header = {"inputs": [dict(binary_input("INPUT0", a, "INT32"),
                                          parameters={"binary_data_size": bad}),
                                     binary_input("INPUT1", a, "INT32")]}
                body, n = frame(header, a.tobytes(), a.tobytes())
                self.assertError(self.post_binary("simple", body, n), 400,
                                 mentions=["INPUT0", "binary_data_size", "non-negative integer"])

    def test_sizes_must_add_up_to_the_binary_part(self):
        a = np.zeros((1, 16))
        body, n = self.simple_binary(a, a)
        self.assertError(self.post_binary("simple", body[:-4], n), 400,
                         mentions=["add up to 128", "124 bytes follow", "INPUT0", "INPUT1"])
        self.assertError(self.post_binary("simple", body + b"\x00", n), 400,
                         mentions=["add up to 128", "129 bytes follow"])
        # Bytes after a JSON request that gives every input as "data".
        req = json.dumps({"inputs": [{"name": x, "shape": [1, 16], "datatype": "INT32", "data": [0] * 16}
                                     for x in ("INPUT0", "INPUT1")]}).encode()
        self.assertError(self.post_binary("simple", req + b"\x00" * 8, len(req)), 400,
                         mentions=["8 bytes follow", "no input has", "binary_data_size"])

    def test_data_and_binary_data_size_do_not_mix(self):
        a = np.zeros((1, 16), "<i4")
        mixed = dict(binary_input("INPUT0", a, "INT32"), data=[0] * 16)
        body, n = frame({"inputs": [mixed, binary_input("INPUT1", a, "INT32")]}, a.tobytes(), a.tobytes())
        self.assertError(self.post_binary("simple", body, n), 400,
                         mentions=["INPUT0", "both 'data' and 'binary_data_size'"])

    def test_binary_data_size_without_the_header(self):
        a = np.zeros((1, 16))
        body, n = self.simple_binary(a, a)
        self.assertError(self.post_binary("simple", body, None), 400)  # JSON then garbage
        self.assertError(self.post_binary("simple", body[:n], None), 400,
                         mentions=["INPUT0", "binary_data_size", "no binary part", HEADER])

    def test_bad_bytes_framing(self):
        # Decoding checks the framing before any model is involved, so `simple` will do.
        cases = [
            ([2], bytes_elements([b"abc"]) + b"\x01\x00", ["ends after 1 of the 2 elements"]),
            ([1], bytes_elements([b"abc"])[:-1], ["element 0 has length 3"]),
            ([1], bytes_elements([b"a", b"b"]), ["left over"]),
            ([3], b"\x00" * 8, ["needs at least 12 bytes"]),
        ]
        for shape, raw, words in cases:
            with self.subTest(words=words):
                header = {"inputs": [{"name": "s", "shape": shape, "datatype": "BYTES",
                                      "parameters": {"binary_data_size": len(raw)}}]}
                body, n = frame(header, raw)
                self.assertError(self.post_binary("simple", body, n), 400, mentions=["input 's'", *words])

    def test_bad_output_and_request_parameters(self):
        a = np.zeros((1, 16))
        body, n = self.simple_binary(a, a, outputs=[{"name": "OUTPUT0", "parameters": {"binary_data": 1}}])
        self.assertError(self.post_binary("simple", body, n), 400, mentions=["OUTPUT0", "binary_data"])
        body, n = self.simple_binary(a, a, params={"binary_data_output": "yes"})
        self.assertError(self.post_binary("simple", body, n), 400, mentions=["binary_data_output"])
        for value in ({"x": 1}, [1], None):
            with self.subTest(value=value):
                body, n = self.simple_binary(a, a, params={"alpha": value})
                self.assertError(self.post_binary("simple", body, n), 400,
                                 mentions=["parameter 'alpha'", "string, number or boolean"])

    def test_server_still_serves_after_bad_binary(self):
        for junk in (b"\xff" * 64, b"{}" + b"\x00" * 10):
            self.post_binary("simple", junk, 2)
        a = np.arange(16).reshape(1, 16)
        body, n = self.simple_binary(a, a)
        self.assertEqual(output(self.assertOk(self.post_binary("simple", body, n)), "OUTPUT0")["data"],
                         (2 * a).reshape(-1).tolist())
        self.assertServerAnswers()


if __name__ == "__main__":
    unittest.main()
