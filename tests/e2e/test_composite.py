"""Ensembles and cascades end to end: the bundled fashion_ensemble and fashion_cascade serve
over HTTP through their calibrated members; a cascade passes an ambiguous image on and
answers a clear one itself; an ensemble's `epistemic` output is higher on noise than on
real images; a composite whose member is missing fails alone."""

import shutil
import unittest
from pathlib import Path

import numpy as np

from server import MODELS, ServerTestCase, fashion_test_set, image_request, output, output_array

MEMBERS = ("fashion_mlp", "fashion_cnn", "fashion_xgb")
COMPOSITES = ("fashion_cascade", "fashion_ensemble")

BROKEN_CASCADE = """
platform = "cascade"
max_batch_size = 8
[cascade]
stages = ["fashion_mlp", "no_such_model"]
[[inputs]]
name = "image"
datatype = "FP32"
shape = [-1, 1, 28, 28]
[[outputs]]
name = "stage"
datatype = "INT32"
shape = [-1]
"""


def metric(text: str, name: str, **labels) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + "{") and want in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} with {want}")


class CompositeTest(ServerTestCase):
    @classmethod
    def required_models(cls):
        # Only the TorchScript models can be missing (before tools/train_models.py); the
        # rest are configs and committed files, and copytree fails loudly without them.
        return ("fashion_mlp", "fashion_cnn")

    @classmethod
    def build_repository(cls, repo: Path) -> None:
        for name in MEMBERS + COMPOSITES:
            shutil.copytree(MODELS / name, repo / name)
        # The same cascade without its own calibration.json.
        shutil.copytree(MODELS / "fashion_cascade", repo / "raw_cascade",
                        ignore=shutil.ignore_patterns("calibration.json"))
        (repo / "broken_cascade" / "1").mkdir(parents=True)
        (repo / "broken_cascade" / "1" / "README.md").write_text("composite\n")
        (repo / "broken_cascade" / "config.toml").write_text(BROKEN_CASCADE)

    def images(self, n: int, start: int = 0) -> tuple:
        images, labels = fashion_test_set()
        return images[start:start + n], labels[start:start + n]

    def test_metadata_names_the_platform_and_outputs(self):
        for model, platform, outputs in (
                ("fashion_cascade", "cascade", {"probabilities", "logits", "stage"}),
                ("fashion_ensemble", "ensemble", {"probabilities", "logits", "epistemic"})):
            meta = self.assertOk(self.get(f"/v2/models/{model}"))
            self.assertEqual(meta["platform"], platform)
            self.assertTrue(outputs <= {o["name"] for o in meta["outputs"]}, meta["outputs"])

    def test_cascade_answers_clear_images_and_passes_ambiguous_ones_on(self):
        images, labels = self.images(64)
        before = self.get("/metrics").text
        body = self.assertOk(self.infer("fashion_cascade", image_request(
            images, outputs=[{"name": "probabilities"}, {"name": "stage"}])))
        stage = output_array(body, "stage", np.int32)
        probs = output_array(body, "probabilities").reshape(len(images), 10)
        self.assertEqual(stage.shape, (64,))
        self.assertTrue(set(stage.tolist()) <= {0, 1})
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
        self.assertGreaterEqual(float(np.mean(probs.argmax(axis=1) == labels)), 0.8)
        # A clear image (the fast stage alone answered it) is answered by it again, alone.
        clear = images[int(np.flatnonzero(stage == 0)[0])]
        one = self.assertOk(self.infer("fashion_cascade", image_request(clear[None])))
        self.assertEqual(output_array(one, "stage", np.int32).tolist(), [0])
        # Half a T-shirt, half a bag: the fast stage is not sure, so the accurate one answers.
        all_images, all_labels = fashion_test_set()
        shirt = all_images[int(np.flatnonzero(all_labels == 0)[0])].astype(np.float64)
        bag = all_images[int(np.flatnonzero(all_labels == 8)[0])].astype(np.float64)
        blend = ((shirt + bag) / 2).round().astype(np.uint8)
        mixed = self.assertOk(self.infer("fashion_cascade", image_request(blend[None])))
        self.assertEqual(output_array(mixed, "stage", np.int32).tolist(), [1])
        after = self.get("/metrics").text
        labels0 = dict(model="fashion_cascade", version="1", stage="0")
        answered = (metric(after, "ferry_cascade_answers_total", **labels0)
                    - metric(before, "ferry_cascade_answers_total", **labels0))
        escalated = (metric(after, "ferry_cascade_escalations_total", **labels0)
                     - metric(before, "ferry_cascade_escalations_total", **labels0))
        self.assertEqual(answered, int(np.sum(stage == 0)) + 1)
        self.assertEqual(escalated, int(np.sum(stage == 1)) + 1)

    def test_ensemble_is_less_sure_about_noise_than_about_real_images(self):
        images, labels = self.images(64, start=5000)
        body = self.assertOk(self.infer("fashion_ensemble", image_request(
            images, outputs=[{"name": "probabilities"}, {"name": "epistemic"}])))
        real = output_array(body, "epistemic")
        probs = output_array(body, "probabilities").reshape(64, 10)
        self.assertGreaterEqual(float(np.mean(probs.argmax(axis=1) == labels)), 0.8)
        noise = np.random.default_rng(7).integers(0, 256, size=(64, 28, 28), dtype=np.uint8)
        body = self.assertOk(self.infer("fashion_ensemble", image_request(
            noise, outputs=[{"name": "epistemic"}])))
        ood = output_array(body, "epistemic")
        self.assertEqual(ood.shape, (64,))
        self.assertTrue(np.all(real >= 0) and np.all(ood >= 0))
        self.assertGreater(float(ood.mean()), 2 * float(real.mean()))

    def test_a_calibrated_composite_answers_sets_and_an_uncalibrated_one_asks(self):
        images, _ = self.images(4)
        for model in COMPOSITES:
            body = self.assertOk(self.infer(model, image_request(
                images, outputs=[{"name": "prediction_set"}, {"name": "uncertain"}])))
            self.assertEqual(output(body, "prediction_set")["shape"], [4, 10])
            self.assertEqual(output(body, "uncertain")["datatype"], "BOOL")
        r = self.infer("raw_cascade", image_request(images, outputs=[{"name": "prediction_set"}]))
        self.assertError(r, 400, mentions=["ferry calibrate"])

    def test_a_composite_with_a_missing_member_fails_alone(self):
        r = self.get("/v2/models/broken_cascade/ready")
        self.assertNotEqual(r.status_code, 200)
        index = self.assertOk(self.post("/v2/repository/index", {}))
        broken = [e for e in index if e["name"] == "broken_cascade"]
        self.assertTrue(broken and "no_such_model" in broken[0].get("reason", ""), broken)
        images, _ = self.images(2)
        self.assertOk(self.infer("fashion_cascade", image_request(images)))


if __name__ == "__main__":
    unittest.main()
