"""Calibrated probabilities, conformal prediction sets and the `uncertain` flag, end to end:
the outputs a calibrated version adds (shapes, datatypes, values against its
calibration.json), the "alpha" request parameter, uncalibrated versions, model metadata,
and `ferry calibrate` / `ferry evaluate` on a temporary copy of a model, picked up by the
running server after a reload."""

import hashlib
import json
import shutil
import struct
import subprocess
import tempfile
import unittest
from pathlib import Path

import numpy as np

import test_grpc
from server import (FASHION_DIR, MODELS, REPO_ROOT, ServerTestCase, copy_model, fashion_test_set,
                    ferry_bin, image_request, output, output_array)

LEVELS = (0.05, 0.1, 0.2)
MIN_CONFIDENCE = 0.7  # the documented default
CALIB_SET = REPO_ROOT / "data" / "fashion_calib.ferryset"


def softmax(z: np.ndarray, t: float) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64) / t
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def copy_calibrated(repo: Path, source: str, name: str = None, uncalibrated_v2: bool = False) -> Path:
    """models/<source> with its version 1 calibration.json; optionally a version 2 with the
    same model file and no calibration."""
    dst = copy_model(repo, source, name)
    shutil.copy(MODELS / source / "1" / "calibration.json", dst / "1" / "calibration.json")
    if uncalibrated_v2:
        (dst / "2").mkdir()
        shutil.copy(dst / "1" / "model.pt", dst / "2" / "model.pt")
    return dst


def write_ferryset(path: Path, images: np.ndarray, labels: np.ndarray, classes: int = 10) -> None:
    """A labeled set in the format docs/uncertainty.md describes, written as a user would."""
    rows = np.ascontiguousarray(np.asarray(images, dtype="<f4").reshape(-1, 1, 28, 28))
    header = json.dumps({"datatype": "FP32", "shape": list(rows.shape),
                         "classes": classes}).encode()
    path.write_bytes(b"FERRYSET" + struct.pack("<II", 1, len(header)) + header
                     + np.asarray(labels, dtype="<i8").tobytes() + rows.tobytes())


def require_calibrated(*names: str) -> None:
    missing = [n for n in names if not (MODELS / n / "1" / "calibration.json").is_file()]
    if missing:
        raise unittest.SkipTest(f"{missing} have no 1/calibration.json (run ferry calibrate)")


class CalibratedOutputsTest(ServerTestCase):
    """fashion_cnn version 1 is calibrated (the bundled calibration.json); version 2, the
    default, is the same model without one."""

    @classmethod
    def required_models(cls):
        require_calibrated("fashion_cnn")
        return ("fashion_cnn",)

    @classmethod
    def build_repository(cls, repo):
        copy_calibrated(repo, "fashion_cnn", uncalibrated_v2=True)
        cls.calibration = json.loads((MODELS / "fashion_cnn" / "1" / "calibration.json").read_text())

    def infer_v1(self, images, outputs, parameters=None, status=200):
        body = image_request(images, outputs=[{"name": n} for n in outputs])
        if parameters is not None:
            body["parameters"] = parameters
        r = self.infer("fashion_cnn", body, version="1")
        return self.assertOk(r) if status == 200 else r

    def level(self, alpha):
        return next(l for l in self.calibration["conformal"] if abs(l["alpha"] - alpha) < 1e-9)

    def test_outputs_shapes_and_datatypes(self):
        images, _ = fashion_test_set()
        body = self.infer_v1(images[:5], ["logits", "probabilities", "prediction_set", "uncertain"])
        self.assertEqual([o["name"] for o in body["outputs"]],
                         ["logits", "probabilities", "prediction_set", "uncertain"])
        self.assertEqual(body["model_version"], "1")
        probs, pset, unc = (output(body, n) for n in ("probabilities", "prediction_set", "uncertain"))
        self.assertEqual((probs["datatype"], probs["shape"]), ("FP32", [5, 10]))
        self.assertEqual((pset["datatype"], pset["shape"]), ("BOOL", [5, 10]))
        self.assertEqual((unc["datatype"], unc["shape"]), ("BOOL", [5]))
        self.assertTrue(all(isinstance(v, bool) for v in pset["data"] + unc["data"]))

    def test_values_follow_the_calibration(self):
        images, labels = fashion_test_set()
        images, labels = images[:64], labels[:64]
        body = self.infer_v1(images, ["logits", "probabilities", "prediction_set", "uncertain"])
        logits = output_array(body, "logits", np.float64)
        probs = output_array(body, "probabilities", np.float64)
        pset = output_array(body, "prediction_set", bool)
        unc = output_array(body, "uncertain", bool)
        expected = softmax(logits, self.calibration["temperature"])
        np.testing.assert_allclose(probs, expected, atol=1e-6)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        # The config's default: alpha 0.1 with LAC, a class is in when 1 - p <= threshold.
        q = self.level(0.1)["lac"]
        clear = np.abs((1 - expected) - q) > 1e-6  # leave float32 ties at the edge alone
        np.testing.assert_array_equal(pset[clear], ((1 - expected) <= q)[clear])
        size = pset.sum(axis=1)
        np.testing.assert_array_equal(unc, (size != 1) | (probs.max(axis=1) < MIN_CONFIDENCE))
        # Real images: most answers are a single class, and the flagged ones are the worse.
        self.assertGreater((size == 1).mean(), 0.7)
        right = probs.argmax(axis=1) == labels
        if unc.any() and (~unc).any():
            self.assertGreaterEqual(right[~unc].mean(), right[unc].mean())

    def test_alpha_parameter_picks_the_level(self):
        images, _ = fashion_test_set()
        sets = {}
        for alpha in LEVELS:
            body = self.infer_v1(images[:32], ["prediction_set"], {"alpha": alpha})
            sets[alpha] = output_array(body, "prediction_set", bool)
        default = output_array(self.infer_v1(images[:32], ["prediction_set"]), "prediction_set", bool)
        np.testing.assert_array_equal(default, sets[0.1])
        # Smaller alpha, larger thresholds: nested sets.
        self.assertTrue(np.all(sets[0.2] <= sets[0.1]) and np.all(sets[0.1] <= sets[0.05]))
        self.assertGreater(sets[0.05].sum(), sets[0.2].sum())

    def test_alpha_errors(self):
        images, _ = fashion_test_set()
        for bad in (0.15, 0.5, 1):
            with self.subTest(alpha=bad):
                r = self.infer_v1(images[:1], ["prediction_set"], {"alpha": bad}, status=400)
                self.assertError(r, 400, mentions=["alpha", "0.05, 0.1, 0.2"])
        for bad in ("0.1", True, [0.1], {"v": 0.1}):
            with self.subTest(alpha=bad):
                r = self.infer_v1(images[:1], ["prediction_set"], {"alpha": bad}, status=400)
                self.assertError(r, 400, mentions=["alpha"])

    def test_uncalibrated_version_serves_but_refuses_the_outputs(self):
        images, _ = fashion_test_set()
        body = self.assertOk(self.infer("fashion_cnn", image_request(images[:2])))
        self.assertEqual(body["model_version"], "2")
        self.assertEqual([o["name"] for o in body["outputs"]], ["logits"])
        for name in ("probabilities", "prediction_set", "uncertain"):
            with self.subTest(output=name):
                r = self.infer("fashion_cnn", image_request(images[:1], outputs=[{"name": name}]))
                self.assertError(r, 400, mentions=[name, "ferry calibrate"])
        body = image_request(images[:1])
        body["parameters"] = {"alpha": 0.1}
        self.assertError(self.infer("fashion_cnn", body), 400, mentions=["alpha", "ferry calibrate"])

    def test_metadata_lists_the_outputs_only_when_calibrated(self):
        v1 = self.assertOk(self.get("/v2/models/fashion_cnn/versions/1"))
        outputs = {o["name"]: (o["datatype"], o["shape"]) for o in v1["outputs"]}
        self.assertEqual(outputs, {"logits": ("FP32", [-1, 10]),
                                   "probabilities": ("FP32", [-1, 10]),
                                   "prediction_set": ("BOOL", [-1, 10]),
                                   "uncertain": ("BOOL", [-1])})
        v2 = self.assertOk(self.get("/v2/models/fashion_cnn/versions/2"))
        self.assertEqual([o["name"] for o in v2["outputs"]], ["logits"])
        default = self.assertOk(self.get("/v2/models/fashion_cnn"))
        self.assertEqual([o["name"] for o in default["outputs"]], ["logits"])

    def test_classification_on_calibrated_probabilities(self):
        images, _ = fashion_test_set()
        body = image_request(images[:2], outputs=[{"name": "probabilities",
                                                   "parameters": {"classification": 3}}])
        out = output(self.assertOk(self.infer("fashion_cnn", body, version="1")), "probabilities")
        self.assertEqual((out["datatype"], out["shape"]), ("BYTES", [2, 3]))
        self.assertRegex(out["data"][0], r"^[0-9.e+-]+:\d:")


class GrpcUncertaintyTest(test_grpc.GrpcTestCase):
    """The same outputs and parameter over gRPC."""

    @classmethod
    def required_models(cls):
        require_calibrated("fashion_cnn")
        return ("fashion_cnn",)

    @classmethod
    def build_repository(cls, repo):
        copy_calibrated(repo, "fashion_cnn")

    def request(self, alpha=None):
        images, _ = fashion_test_set()
        req = self.image_request(images[:4], raw=True)
        for name in ("probabilities", "prediction_set", "uncertain"):
            req.outputs.add(name=name)
        if alpha is not None:
            req.parameters["alpha"].double_param = alpha
        return req

    def test_outputs_and_alpha(self):
        resp = self.stub.ModelInfer(self.request(alpha=0.05), timeout=30)
        probs = self.output_array(resp, "probabilities", "<f4")
        self.assertEqual(probs.shape, (4, 10))
        pset = self.output_array(resp, "prediction_set", "u1")
        self.assertEqual(pset.shape, (4, 10))
        self.assertEqual(self.output_array(resp, "uncertain", "u1").shape, (4,))
        datatypes = {o.name: o.datatype for o in resp.outputs}
        self.assertEqual(datatypes, {"probabilities": "FP32", "prediction_set": "BOOL",
                                     "uncertain": "BOOL"})
        self.assertGrpcError(lambda: self.stub.ModelInfer(self.request(alpha=0.3), timeout=30),
                             test_grpc.grpc.StatusCode.INVALID_ARGUMENT, mentions=["alpha"])


class CalibrateCommandTest(ServerTestCase):
    """`ferry calibrate` on a copy of fashion_mlp in the served repository; a reload makes
    the server use the new calibration.json. `ferry evaluate` reads it."""

    @classmethod
    def required_models(cls):
        if not (FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file():
            raise unittest.SkipTest("needs Debian's dataset-fashion-mnist")
        return ("fashion_mlp",)

    @classmethod
    def build_repository(cls, repo):
        copy_model(repo, "fashion_mlp")
        cls.work = Path(tempfile.mkdtemp(prefix="ferry-e2e-unc-"))
        images, labels = fashion_test_set()
        # Small sets keep the test quick; the fixed halves are what docs/uncertainty.md measures.
        cls.calib = cls.work / "calib.ferryset"
        write_ferryset(cls.calib, images[:1000], labels[:1000])
        cls.eval = cls.work / "eval.ferryset"
        write_ferryset(cls.eval, images[5000:5500], labels[5000:5500])

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.work, ignore_errors=True)

    def ferry(self, *args, check=True):
        p = subprocess.run([str(ferry_bin()), *args], cwd=REPO_ROOT, capture_output=True,
                           text=True, timeout=300)
        if check:
            self.assertEqual(p.returncode, 0, f"ferry {' '.join(args)}:\n{p.stdout}\n{p.stderr}")
        return p

    def test_calibrate_then_reload_then_evaluate(self):
        repo = str(self._repo_dir)
        images, _ = fashion_test_set()
        ask = image_request(images[:8], outputs=[{"name": "logits"}, {"name": "probabilities"},
                                                 {"name": "prediction_set"}, {"name": "uncertain"}])
        self.assertError(self.infer("fashion_mlp", ask), 400, mentions=["ferry calibrate"])
        p = self.ferry("evaluate", "--model-repository", repo, "--model", "fashion_mlp",
                       "--data", str(self.eval), "--no-plot", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ferry calibrate", p.stderr)

        p = self.ferry("calibrate", "--model-repository", repo, "--model", "fashion_mlp",
                       "--data", str(self.calib))
        self.assertIn("calibration.json", p.stdout)
        written = self._repo_dir / "fashion_mlp" / "1" / "calibration.json"
        cal = json.loads(written.read_text())
        self.assertEqual(cal["n"], 1000)
        self.assertEqual(cal["model"], "fashion_mlp")
        self.assertEqual(cal["version"], "1")
        self.assertEqual(cal["data"]["sha256"], hashlib.sha256(self.calib.read_bytes()).hexdigest())
        self.assertGreater(cal["temperature"], 0.2)
        self.assertLess(cal["temperature"], 5)
        # T minimizes the NLL, which is convex in 1/T, so it cannot end above the NLL at
        # T = 1. The ECE usually falls too, but on 1,000 rows it need not.
        self.assertLessEqual(cal["nll"]["after"], cal["nll"]["before"] + 1e-9)
        self.assertLess(cal["ece"]["after"], 0.05)
        self.assertEqual([l["alpha"] for l in cal["conformal"]], list(LEVELS))
        for l in cal["conformal"]:
            self.assertEqual(l["rank"], int(np.ceil(1001 * (1 - l["alpha"]) - 1e-9)))

        # The running server still has the uncalibrated version until it reloads.
        self.assertError(self.infer("fashion_mlp", ask), 400)
        meta = self.assertOk(self.get("/v2/models/fashion_mlp"))
        self.assertEqual([o["name"] for o in meta["outputs"]], ["logits"])
        self.assertOk(self.post("/v2/repository/models/fashion_mlp/load"))
        meta = self.assertOk(self.get("/v2/models/fashion_mlp"))
        self.assertEqual([o["name"] for o in meta["outputs"]],
                         ["logits", "probabilities", "prediction_set", "uncertain"])
        body = self.assertOk(self.infer("fashion_mlp", ask))
        np.testing.assert_allclose(output_array(body, "probabilities", np.float64),
                                   softmax(output_array(body, "logits"), cal["temperature"]),
                                   atol=1e-6)

        png = self.work / "reliability.png"
        p = self.ferry("evaluate", "--model-repository", repo, "--model", "fashion_mlp",
                       "--data", str(self.eval), "--json", "--plot", str(png))
        report = json.loads(p.stdout)
        self.assertEqual(report["rows"], 500)
        # 500 rows in requests of max_batch_size 64, each its own batch, all on fashion_mlp.
        self.assertEqual([(m["model"], m["batches"], m["rows"]) for m in report["compute_by_model"]],
                         [("fashion_mlp", 8, 500)])
        self.assertAlmostEqual(report["compute_by_model"][0]["us_per_row_evaluated"],
                               report["compute_per_row_us"], places=6)
        self.assertEqual(report["temperature"], cal["temperature"])
        self.assertEqual(len(report["sets"]), 6)
        for s in report["sets"]:
            # 500 rows: well within 0.06 of 1 - alpha unless something is broken.
            self.assertLess(abs(s["coverage"] - (1 - s["alpha"])), 0.06, s)
        self.assertEqual(report["set_mismatches"], 0)
        self.assertEqual(report["uncertain_mismatches"], 0)
        self.assertGreater(report["uncertain"]["accuracy_not_uncertain"], report["after"]["accuracy"])
        self.assertEqual(len(report["after"]["bins"]), 15)
        self.assertEqual(png.read_bytes()[:8], b"\x89PNG\r\n\x1a\n")

    def test_bad_data_files_fail_clearly(self):
        repo = str(self._repo_dir)
        missing = self.ferry("calibrate", "--model-repository", repo, "--model", "fashion_mlp",
                             "--data", str(self.work / "nope.ferryset"), check=False)
        self.assertEqual(missing.returncode, 1)
        self.assertIn("nope.ferryset", missing.stderr)
        self.assertIn("tools/make_splits.py", missing.stderr)
        garbage = self.work / "garbage.ferryset"
        garbage.write_bytes(b"not a labeled set at all")
        p = self.ferry("calibrate", "--model-repository", repo, "--model", "fashion_mlp",
                       "--data", str(garbage), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("garbage.ferryset", p.stderr)
        self.assertIn("FERRYSET", p.stderr)
        truncated = self.work / "truncated.ferryset"
        truncated.write_bytes(self.calib.read_bytes()[:-100])
        p = self.ferry("calibrate", "--model-repository", repo, "--model", "fashion_mlp",
                       "--data", str(truncated), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("bytes", p.stderr)
        wrong_shape = self.work / "wrong_shape.ferryset"
        header = json.dumps({"datatype": "FP32", "shape": [2, 784], "classes": 10}).encode()
        wrong_shape.write_bytes(b"FERRYSET" + struct.pack("<II", 1, len(header)) + header
                                + bytes(16) + bytes(2 * 784 * 4))
        p = self.ferry("calibrate", "--model-repository", repo, "--model", "fashion_mlp",
                       "--data", str(wrong_shape), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("do not fit input 'image'", p.stderr)
        self.assertFalse((self._repo_dir / "fashion_mlp" / "1" / "calibration.json.tmp").exists())


class FixedSplitsTest(unittest.TestCase):
    """tools/make_splits.py makes the documented halves, byte for byte reproducibly."""

    def test_make_splits(self):
        if not (FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file():
            self.skipTest("needs Debian's dataset-fashion-mnist")
        out = Path(tempfile.mkdtemp(prefix="ferry-e2e-splits-"))
        try:
            subprocess.run(["/usr/bin/python3", str(REPO_ROOT / "tools" / "make_splits.py"),
                            "--out-dir", str(out)], check=True, capture_output=True, timeout=120)
            images, labels = fashion_test_set()
            for name, rows in (("fashion_calib", slice(0, 5000)), ("fashion_eval", slice(5000, 10000))):
                raw = (out / f"{name}.ferryset").read_bytes()
                self.assertEqual(raw[:8], b"FERRYSET")
                version, hlen = struct.unpack_from("<II", raw, 8)
                header = json.loads(raw[16:16 + hlen])
                self.assertEqual((version, header["datatype"], header["shape"], header["classes"]),
                                 (1, "FP32", [5000, 1, 28, 28], 10))
                got_labels = np.frombuffer(raw, dtype="<i8", count=5000, offset=16 + hlen)
                np.testing.assert_array_equal(got_labels, labels[rows])
                pixels = np.frombuffer(raw, dtype="<f4", offset=16 + hlen + 8 * 5000)
                np.testing.assert_array_equal(pixels.reshape(5000, 28, 28), images[rows])
            # What the bundled calibration.json files were made from, if it is here.
            if CALIB_SET.is_file():
                self.assertEqual((out / "fashion_calib.ferryset").read_bytes(), CALIB_SET.read_bytes())
            cal = json.loads((MODELS / "fashion_cnn" / "1" / "calibration.json").read_text())
            self.assertEqual(cal["data"]["sha256"],
                             hashlib.sha256((out / "fashion_calib.ferryset").read_bytes()).hexdigest())
        finally:
            shutil.rmtree(out, ignore_errors=True)

class CascadeEvaluateTest(unittest.TestCase):
    """`ferry evaluate` on the bundled cascade: its compute is split between the stages,
    and the accurate stage computed exactly the rows the fast one passed on."""

    def test_compute_by_model_follows_the_stages(self):
        if not (FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file():
            raise unittest.SkipTest("needs Debian's dataset-fashion-mnist")
        require_calibrated("fashion_cascade", "fashion_mlp", "fashion_cnn")
        images, labels = fashion_test_set()
        with tempfile.TemporaryDirectory(prefix="ferry-e2e-cascade-") as work:
            data = Path(work) / "eval.ferryset"
            write_ferryset(data, images[5000:5300], labels[5000:5300])
            p = subprocess.run([str(ferry_bin()), "evaluate", "--model", "fashion_cascade",
                                "--data", str(data), "--json", "--no-plot"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        report = json.loads(p.stdout)
        self.assertEqual(report["rows"], 300)
        fast, accurate = report["rows_by_stage"]
        self.assertEqual(fast + accurate, 300)
        self.assertGreater(accurate, 0)
        by_model = {m["model"]: m for m in report["compute_by_model"]}
        self.assertEqual(set(by_model), {"fashion_mlp", "fashion_cnn"})
        self.assertEqual(by_model["fashion_mlp"]["rows"], 300)
        self.assertEqual(by_model["fashion_cnn"]["rows"], accurate)
        # One request of up to 64 rows at a time: each is one batch on either stage.
        self.assertEqual(by_model["fashion_mlp"]["batches"], 5)
        self.assertLessEqual(by_model["fashion_cnn"]["batches"], 5)
        self.assertAlmostEqual(sum(m["us_per_row_evaluated"] for m in by_model.values()),
                               report["compute_per_row_us"], places=6)


if __name__ == "__main__":
    unittest.main()
