"""MC dropout end to end: the bundled fashion_mlp_mc (fashion_mlp's artifact with its
dropout kept active, 20 passes a row) serves over HTTP; its answers are stochastic but
close to fashion_mlp's, its `epistemic` output is higher on noise than on real images,
its calibrated sets work, and [mc_dropout] on a model without dropout, or with an output
it cannot make, fails that model alone, named in the index."""

import shutil
import unittest
from pathlib import Path

import numpy as np

from server import MODELS, ServerTestCase, copy_model, fashion_test_set, image_request, output, output_array

WITH_OUTPUT_STAGE = (MODELS / "fashion_mlp_mc" / "config.toml").read_text().replace(
    'name = "epistemic"\ndatatype = "FP32"', 'name = "stage"\ndatatype = "INT32"')

SIMPLE_WITH_MC = """
platform = "torchscript"
max_batch_size = 8
[mc_dropout]
passes = 4
[[inputs]]
name = "INPUT0"
datatype = "INT32"
shape = [-1, 16]
[[inputs]]
name = "INPUT1"
datatype = "INT32"
shape = [-1, 16]
[[outputs]]
name = "probabilities"
datatype = "FP32"
shape = [-1, 16]
"""


class McDropoutTest(ServerTestCase):
    @classmethod
    def required_models(cls):
        return ("fashion_mlp", "fashion_mlp_mc", "simple")

    @classmethod
    def build_repository(cls, repo: Path) -> None:
        for name in ("fashion_mlp", "fashion_mlp_mc"):
            shutil.copytree(MODELS / name, repo / name)
        copy_model(repo, "fashion_mlp_mc", "mc_with_stage", config=WITH_OUTPUT_STAGE)
        copy_model(repo, "simple", "simple_mc", config=SIMPLE_WITH_MC)

    def probabilities(self, model: str, images: np.ndarray) -> np.ndarray:
        body = self.assertOk(self.infer(model, image_request(
            images, outputs=[{"name": "probabilities"}])))
        return output_array(body, "probabilities").reshape(len(images), 10)

    def test_metadata_lists_the_averaged_and_calibrated_outputs(self):
        meta = self.assertOk(self.get("/v2/models/fashion_mlp_mc"))
        self.assertEqual(meta["platform"], "pytorch_torchscript")
        names = {o["name"] for o in meta["outputs"]}
        self.assertTrue({"probabilities", "logits", "epistemic", "prediction_set", "uncertain"} <= names,
                        meta["outputs"])

    def test_answers_are_stochastic_but_agree_with_the_plain_model(self):
        images, labels = fashion_test_set()
        images, labels = images[5000:5064], labels[5000:5064]
        first = self.probabilities("fashion_mlp_mc", images)
        second = self.probabilities("fashion_mlp_mc", images)
        plain = self.probabilities("fashion_mlp", images)
        np.testing.assert_allclose(first.sum(axis=1), 1.0, atol=1e-4)
        # New dropout masks every request: the same images never get the same numbers...
        self.assertGreater(float(np.abs(first - second).max()), 1e-4)
        # ...but the mean of 20 passes stays close to the deterministic model.
        self.assertLess(float(np.abs(first - plain).mean()), 0.05)
        self.assertGreaterEqual(float(np.mean(first.argmax(axis=1) == plain.argmax(axis=1))), 0.9)
        # ...and is about as often right: at most two of the 64 answers fewer.
        self.assertGreaterEqual(float(np.mean(first.argmax(axis=1) == labels)),
                                float(np.mean(plain.argmax(axis=1) == labels)) - 2 / 64)

    def test_epistemic_is_higher_on_noise_than_on_real_images(self):
        images, _ = fashion_test_set()
        body = self.assertOk(self.infer("fashion_mlp_mc", image_request(
            images[5000:5064], outputs=[{"name": "epistemic"}])))
        real = output_array(body, "epistemic")
        self.assertEqual(output(body, "epistemic")["shape"], [64])
        noise = np.random.default_rng(7).integers(0, 256, size=(64, 28, 28), dtype=np.uint8)
        ood = output_array(self.assertOk(self.infer("fashion_mlp_mc", image_request(
            noise, outputs=[{"name": "epistemic"}]))), "epistemic")
        self.assertTrue(np.all(real >= 0) and np.all(ood >= 0))
        self.assertLessEqual(float(ood.max()), float(np.log(10)) + 1e-5)
        self.assertGreater(float(ood.mean()), 2 * float(real.mean()))

    def test_calibrated_sets_and_one_image_alone(self):
        images, _ = fashion_test_set()
        body = self.assertOk(self.infer("fashion_mlp_mc", image_request(
            images[:1], outputs=[{"name": "prediction_set"}, {"name": "uncertain"},
                                 {"name": "probabilities", "parameters": {"classification": 2}}])))
        self.assertEqual(output(body, "prediction_set")["shape"], [1, 10])
        self.assertEqual(output(body, "uncertain")["datatype"], "BOOL")
        self.assertEqual(len(output(body, "probabilities")["data"]), 2)

    def test_bad_mc_dropout_models_fail_alone_and_are_named(self):
        index = {e["name"]: e for e in self.assertOk(self.post("/v2/repository/index", {}))}
        self.assertIn("no dropout layers", index["simple_mc"].get("reason", ""), index["simple_mc"])
        self.assertIn("stage", index["mc_with_stage"].get("reason", ""), index["mc_with_stage"])
        for name in ("simple_mc", "mc_with_stage"):
            self.assertNotEqual(self.get(f"/v2/models/{name}/ready").status_code, 200)
        self.assertEqual(index["fashion_mlp_mc"]["state"], "READY")
        images, _ = fashion_test_set()
        self.assertOk(self.infer("fashion_mlp_mc", image_request(images[:2])))


if __name__ == "__main__":
    unittest.main()
