"""The XGBoost backend end to end: the bundled fashion_xgb model serves real Fashion-MNIST
images over HTTP beside a TorchScript model, and broken xgboost models beside them take
down only themselves."""

import concurrent.futures
import json
import os
import re
import shutil
import unittest
from pathlib import Path

import numpy as np

from server import (FASHION_LABELS, MODELS, ServerTestCase, copy_model, fashion_test_set,
                    image_request, model_config, output, output_array, simple_request)

XGB = "fashion_xgb"


def copy_xgb(repo: Path, name: str, config: str = None, files: dict = None,
             with_model: bool = True) -> Path:
    """Copies models/fashion_xgb to <repo>/<name>; `config` replaces config.toml and
    `files` ({file name: bytes}) are written into version 1 instead of model.ubj."""
    src = MODELS / XGB
    dst = repo / name
    (dst / "1").mkdir(parents=True)
    shutil.copy(src / "labels.txt", dst / "labels.txt")
    (dst / "config.toml").write_text(config if config is not None else (src / "config.toml").read_text())
    if files is not None:
        for fname, data in files.items():
            (dst / "1" / fname).write_bytes(data)
    elif with_model:
        shutil.copy(src / "1" / "model.ubj", dst / "1" / "model.ubj")
    return dst


def xgb_config(edit=None) -> str:
    text = (MODELS / XGB / "config.toml").read_text()
    return edit(text) if edit else text


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class XGBoostServingTest(ServerTestCase):
    """fashion_xgb and the TorchScript `simple` model in one server, with broken xgboost
    models beside them."""

    # name -> what the log line about it must say, besides the model's name
    BROKEN = {
        "xgb_garbage": ["model.ubj", "not a loadable XGBoost model"],
        "xgb_missing": ["model.json", "model.ubj", "not found"],
        "xgb_both": ["model.json", "model.ubj", "both exist"],
        "xgb_features": ["model.ubj", "784 features", "756 per row"],
        "xgb_output": ["model.ubj", "output 'scores'", "'logits' and 'probabilities' only"],
    }

    @classmethod
    def required_models(cls):
        return ("simple",)

    @classmethod
    def build_repository(cls, repo):
        if not (MODELS / XGB / "1" / "model.ubj").is_file():
            raise unittest.SkipTest(f"{MODELS / XGB} not found (tools/train_models.py --only {XGB})")
        copy_xgb(repo, XGB)
        copy_model(repo, "simple")
        copy_xgb(repo, "xgb_garbage", files={"model.ubj": os.urandom(8192)})
        copy_xgb(repo, "xgb_missing", with_model=False)
        copy_xgb(repo, "xgb_both", files={
            "model.ubj": (MODELS / XGB / "1" / "model.ubj").read_bytes(), "model.json": b"{}"})
        copy_xgb(repo, "xgb_features",
                 config=xgb_config(lambda t: t.replace("shape = [-1, 1, 28, 28]", "shape = [-1, 1, 28, 27]")))
        copy_xgb(repo, "xgb_output",
                 config=xgb_config(lambda t: t.replace('name = "probabilities"', 'name = "scores"')))

    # ---- metadata ----

    def test_model_metadata_says_xgboost(self):
        config = model_config(XGB)
        for path in (f"/v2/models/{XGB}", f"/v2/models/{XGB}/versions/1"):
            with self.subTest(path=path):
                body = self.assertOk(self.get(path))
                self.assertEqual(body["name"], XGB)
                self.assertEqual(body["platform"], "xgboost")
                self.assertEqual(body["versions"], ["1"])
                for kind in ("inputs", "outputs"):
                    want = [{"name": t["name"], "datatype": t["datatype"], "shape": t["shape"]}
                            for t in config[kind]]
                    got = [{"name": t["name"], "datatype": t["datatype"], "shape": t["shape"]}
                           for t in body[kind]]
                    self.assertEqual(got, want, kind)
        self.assertEqual(self.get(f"/v2/models/{XGB}/ready").status_code, 200)
        # The TorchScript model beside it keeps its own platform name.
        self.assertEqual(self.assertOk(self.get("/v2/models/simple"))["platform"], "pytorch_torchscript")

    # ---- inference ----

    def test_real_images_classify_correctly(self):
        images, labels = fashion_test_set()
        n = min(512, len(labels))
        correct = 0
        for first in range(0, n, 64):  # max_batch_size 64
            batch = images[first:first + 64]
            body = self.assertOk(self.infer(XGB, image_request(batch)))
            self.assertEqual(body["model_name"], XGB)
            self.assertEqual(body["model_version"], "1")
            self.assertEqual([o["name"] for o in body["outputs"]], ["logits", "probabilities"])
            for name in ("logits", "probabilities"):
                self.assertEqual(output(body, name)["datatype"], "FP32")
                self.assertEqual(output(body, name)["shape"], [len(batch), 10])
            logits = output_array(body, "logits")
            probs = output_array(body, "probabilities")
            np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
            np.testing.assert_allclose(probs, softmax(logits.astype(np.float64)), atol=1e-5)
            self.assertEqual(logits.argmax(axis=1).tolist(), probs.argmax(axis=1).tolist())
            correct += int((logits.argmax(axis=1) == labels[first:first + len(batch)]).sum())
        # 89.97% on all 10,000 test images (lineage.json); the first 512 are no easier.
        self.assertGreaterEqual(correct / n, 0.86, f"{correct}/{n} correct")

    def test_one_image_answers_exactly_as_in_a_batch(self):
        images, _ = fashion_test_set()
        batch = self.assertOk(self.infer(XGB, image_request(images[:8])))
        for i in range(8):
            one = self.assertOk(self.infer(XGB, image_request(images[i:i + 1])))
            for name in ("logits", "probabilities"):
                self.assertEqual(output_array(one, name)[0].tolist(),
                                 output_array(batch, name)[i].tolist(), f"image {i} {name}")

    def test_classification_extension_on_probabilities(self):
        images, labels = fashion_test_set()
        n = 6
        probs = output_array(self.assertOk(self.infer(XGB, image_request(images[:n]))), "probabilities")
        body = self.assertOk(self.infer(XGB, image_request(
            images[:n], outputs=[{"name": "probabilities", "parameters": {"classification": 2}}])))
        self.assertEqual([o["name"] for o in body["outputs"]], ["probabilities"])
        out = output(body, "probabilities")
        self.assertEqual(out["datatype"], "BYTES")
        self.assertEqual(out["shape"], [n, 2])
        rows = np.asarray(out["data"], dtype=object).reshape(n, 2)
        for i in range(n):
            value, index, label = rows[i][0].split(":", 2)
            self.assertEqual(int(index), int(probs[i].argmax()))
            self.assertEqual(label, FASHION_LABELS[int(index)])
            self.assertAlmostEqual(float(value), float(probs[i].max()), delta=1e-5)

    def test_concurrent_clients_get_their_own_answers(self):
        images, _ = fashion_test_set()
        sizes = [1, 3, 8, 2, 5, 1, 13, 4]
        starts = np.cumsum([0] + sizes[:-1]).tolist()
        expected = [output_array(self.assertOk(self.infer(XGB, image_request(images[s:s + k]))), "logits")
                    for s, k in zip(starts, sizes)]

        def call(i):
            s, k = starts[i % len(sizes)], sizes[i % len(sizes)]
            r = self.http.post(self.url(f"/v2/models/{XGB}/infer"), data=json.dumps(
                image_request(images[s:s + k], request_id=str(i))), timeout=60)
            return i, r.status_code, r.json()

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            for i, status, body in pool.map(call, range(80)):
                self.assertEqual(status, 200, body)
                self.assertEqual(body["id"], str(i))
                self.assertEqual(output_array(body, "logits").tolist(),
                                 expected[i % len(sizes)].tolist(), f"request {i}")

    # ---- broken xgboost models beside good ones ----

    def test_broken_xgboost_models_leave_the_others_serving(self):
        for name in self.BROKEN:
            with self.subTest(model=name):
                r = self.get(f"/v2/models/{name}/ready")
                self.assertIn(r.status_code, (400, 404, 503), f"{name}: {r.text[:200]}")
                images, _ = fashion_test_set()
                r = self.infer(name, image_request(images[:1]))
                self.assertIn(r.status_code, (400, 404, 503), f"{name} infer: {r.text[:200]}")
                self.assertTrue(r.json().get("error"), r.text[:200])
        a = np.arange(16)
        body = self.assertOk(self.infer("simple", simple_request(a, 2 * a)))
        self.assertEqual(output(body, "OUTPUT0")["data"], (3 * a).tolist())
        images, _ = fashion_test_set()
        self.assertOk(self.infer(XGB, image_request(images[:2])))
        self.assertServerAnswers()

    def test_log_names_the_file_and_the_problem(self):
        lines = self.server.log().splitlines()
        for name, words in self.BROKEN.items():
            with self.subTest(model=name):
                about = [l for l in lines if re.search(rf"\b{name}\b", l)]
                self.assertTrue(about, f"no log line names {name}")
                for word in words:
                    self.assertTrue(any(word in l for l in about),
                                    f"the log about {name} should say {word!r}:\n" + "\n".join(about))
        ready = [l for l in lines if re.search(rf"\b{XGB}\b.*ready", l)]
        self.assertTrue(any("xgboost 1.7" in l and "concurrent predictions" in l for l in ready),
                        "the start-up line should describe the booster:\n" + "\n".join(ready))


if __name__ == "__main__":
    unittest.main()
