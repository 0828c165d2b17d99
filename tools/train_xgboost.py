"""The gradient-boosted-trees model bundled with Ferry (fashion_xgb), trained through
libxgboost's C API (see xgboost_capi.py for why not python3-xgboost).

Called from train_models.py (`--only fashion_xgb`), which passes itself in as `common`
for the shared helpers (dataset, lineage, file writing), so both scripts describe
their models the same way.

The trees split on the raw pixel values (0..255, FP32): clients send exactly the same
request body as for the torch models, and no preprocessing lives anywhere. NaN is the
missing value, both here and in Ferry's xgboost backend, so a zero pixel is a real value.
"""

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import xgboost_capi as xgb

ARTIFACT = "model.ubj"  # UBJSON: about 2/3 the size of the same model as JSON
EVAL_EVERY = 25


def _softmax(margins: np.ndarray) -> np.ndarray:
    z = margins - margins.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def build_fashion_xgb(name: str, spec: dict, data, out: Path, common) -> dict:
    model_dir = out / name
    hp = dict(spec["params"])
    rounds = spec["rounds"]
    nthread = hp["nthread"]
    # Quiet XGBoost's console; failures still raise with its message.
    xgb.set_global_config(verbosity=1)

    train_x = data.train_x.numpy().reshape(data.train_x.shape[0], -1)
    test_x = data.test_x.numpy().reshape(data.test_x.shape[0], -1)
    train_y = data.train_y.numpy()
    test_y = data.test_y.numpy()
    print(f"  training {name}: {rounds} rounds, {hp}", flush=True)
    dtrain = xgb.DMatrix(train_x, train_y, nthread)
    dtest = xgb.DMatrix(test_x, test_y, nthread)
    booster = xgb.Booster([dtrain, dtest], dict(hp, seed=common.SEED))

    history = []
    train_seconds = 0.0
    for i in range(rounds):
        t0 = time.perf_counter()
        booster.update(i, dtrain)
        train_seconds += time.perf_counter() - t0
        # Evaluation is only logged (no early stopping), and its time is not training time.
        if (i + 1) % EVAL_EVERY == 0 or i + 1 == rounds:
            line = booster.eval(i, [(dtest, "test")])  # "[i]\ttest-mlogloss:..\ttest-merror:.."
            metrics = dict(kv.split(":") for kv in line.split("\t")[1:])
            stats = {"round": i + 1,
                     "test_mlogloss": round(float(metrics["test-mlogloss"]), 5),
                     "test_accuracy": round(1.0 - float(metrics["test-merror"]), 4),
                     "train_seconds": round(train_seconds, 2)}
            history.append(stats)
            print(f"    round {stats['round']}: test mlogloss {stats['test_mlogloss']:.4f} "
                  f"acc {stats['test_accuracy']:.4f} ({train_seconds:.1f}s)", flush=True)

    margins = booster.predict(dtest, margin=True)
    probs = booster.predict(dtest, margin=False)
    pred = margins.argmax(axis=1)
    acc = float((pred == test_y).mean())
    if acc < spec["min_accuracy"]:
        raise SystemExit(f"{name}: test accuracy {acc:.4f} below required {spec['min_accuracy']}")
    # Ferry serves probabilities as the softmax of the margins; they must be XGBoost's own.
    max_prob_diff = float(np.abs(_softmax(margins.astype(np.float64)) - probs).max())
    if max_prob_diff > 1e-5:
        raise SystemExit(f"{name}: softmax(margins) differs from XGBoost's probabilities "
                         f"by {max_prob_diff}")

    artifact = model_dir / common.VERSION / ARTIFACT
    artifact.parent.mkdir(parents=True, exist_ok=True)
    tmp = artifact.with_name(artifact.name + ".tmp" + artifact.suffix)  # XGBoost picks the format by suffix
    booster.save(str(tmp))
    os.replace(tmp, artifact)

    # Reload exactly what the server will load and demand identical margins.
    reloaded = xgb.Booster()
    reloaded.load(str(artifact))
    margins2 = reloaded.predict(dtest, margin=True)
    max_diff = float(np.abs(margins - margins2).max())
    if max_diff != 0.0:
        raise SystemExit(f"{name}: reloaded artifact disagrees (max |dmargin| {max_diff})")
    config = reloaded.config()["learner"]

    script_dir = Path(__file__).resolve().parent
    lineage = {
        "model": name,
        "version": common.VERSION,
        "artifact": ARTIFACT,
        "created_utc": common.base_lineage(name)["created_utc"],
        "code": {
            "git_revision": common.code_revision(),
            "scripts": {f"tools/{f}": common.sha256_file(script_dir / f)
                        for f in ("train_models.py", "train_xgboost.py", "xgboost_capi.py")},
        },
        "environment": {
            "xgboost": xgb.version(),
            "xgboost_binding": "ctypes on Debian's libxgboost0 (the library Ferry links)",
            "numpy": np.__version__,
            "python": platform.python_version(),
            "nthread": nthread,
        },
        "seed": common.SEED,
        "artifact_sha256": common.sha256_file(artifact),
        "artifact_bytes": artifact.stat().st_size,
        "dataset": {
            "name": "Fashion-MNIST",
            "directory": str(data.data_dir),
            "files": data.files,
            "train_examples": int(train_x.shape[0]),
            "test_examples": int(test_x.shape[0]),
        },
        "preprocessing": {
            "client_input": "raw pixel values 0..255, FP32, [N, 1, 28, 28]",
            "in_model": "none: [N, 1, 28, 28] is read row-major as N rows of 784 features",
            "missing_value": "NaN (no pixel is missing)",
        },
        "architecture": {
            "booster": config["gradient_booster"]["name"],
            "objective": config["objective"]["name"],
            "num_class": int(config["learner_model_param"]["num_class"]),
            "num_feature": reloaded.num_features(),
            "boosted_rounds": reloaded.boosted_rounds(),
            "trees": reloaded.boosted_rounds() * int(config["learner_model_param"]["num_class"]),
        },
        "hyperparameters": dict(hp, num_boost_round=rounds),
        "training_time_s": round(train_seconds, 2),
        "training_history": history,
        "metrics": {
            "test_accuracy": round(acc, 4),
            "test_correct": int((pred == test_y).sum()),
            "test_examples": int(test_x.shape[0]),
            "test_mlogloss": history[-1]["test_mlogloss"],
            "per_class_test_accuracy": {
                common.FASHION_LABELS[c]: round(float((pred[test_y == c] == c).mean()), 4)
                for c in range(10)},
            "required_min_accuracy": spec["min_accuracy"],
        },
        "reload_check": {"identical_margins": True, "max_abs_margin_diff": max_diff,
                         "max_abs_softmax_vs_xgboost_prob_diff": max_prob_diff,
                         "passed": True},
    }
    common.write_text(model_dir / common.VERSION / "lineage.json", common.dump_json(lineage))
    common.write_text(model_dir / "labels.txt", "\n".join(common.FASHION_LABELS) + "\n")
    common.write_text(model_dir / "config.toml", common.config_toml(spec["serving"]))
    print(f"  {name}: test accuracy {acc:.4f}, trained in {train_seconds:.1f}s, "
          f"{artifact.stat().st_size} bytes", flush=True)
    return {"name": name, "accuracy": acc, "train_seconds": train_seconds,
            "bytes": artifact.stat().st_size}
