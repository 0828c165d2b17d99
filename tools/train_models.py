#!/usr/bin/python3
"""Train and export the models bundled in Ferry's model repository.

Run from anywhere with Debian's interpreter (it carries python3-torch):

    /usr/bin/python3 tools/train_models.py [--out models] [--only NAME]

For each model this writes

    <out>/<name>/config.toml        server-side configuration (parsed by the C++ server)
    <out>/<name>/labels.txt         class names (classification models only)
    <out>/<name>/1/model.pt         TorchScript artifact (torch.jit.script)
    <out>/<name>/1/lineage.json     how the artifact was produced

fashion_xgb is gradient-boosted trees instead (1/model.ubj), trained through
libxgboost's C API by tools/train_xgboost.py (a few minutes on 2 cores):

    /usr/bin/python3 tools/train_models.py --only fashion_xgb

The whole repository folder can be regenerated from this file plus the
Fashion-MNIST idx files, so nothing under models/ needs hand editing.

The *_int8 models are not trained: they are dynamic-int8 copies of the fp32
fashion models (weights of the Linear layers stored as qint8, activations
quantized per call; convolutions stay fp32). They are built from the fp32
artifacts already in <out>, so they can be (re)made without retraining:

    /usr/bin/python3 tools/train_models.py --quantize
    /usr/bin/python3 tools/train_models.py --only fashion_cnn_int8

Int8 weights are packed for one quantized engine (onednn or qnnpack) when the
file is *loaded*, so the engine must be selected before torch.jit.load (the
server's --quantized-engine flag). The build times both engines and records
the faster one in lineage.json and config.toml.

The fashion models take raw pixel values (0..255, FP32, [N, 1, 28, 28]) and
normalize inside the scripted module: clients send what they read from an
image file and never have to know the training statistics.
"""

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
DATA_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
FASHION_LABELS = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
SEED = 20240
# Only one version of each model is produced; the server addresses it as "1".
VERSION = "1"
# Large enough that evaluation stays quick, small enough to keep memory modest.
EVAL_BATCH = 1000


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def read_idx_gz(path: Path) -> np.ndarray:
    """Decode a gzip-compressed idx file (the MNIST family's format).

    Header: two zero bytes, a dtype code, the number of dimensions, then one
    big-endian uint32 per dimension. Fashion-MNIST only uses uint8 (0x08).
    """
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an idx file (bad magic)")
    if raw[2] != 0x08:
        raise ValueError(f"{path}: unsupported idx dtype code 0x{raw[2]:02x}")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(raw) - offset != expected:
        raise ValueError(f"{path}: header says {dims} but payload has "
                         f"{len(raw) - offset} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class FashionData:
    """Fashion-MNIST as float tensors of raw pixel values (0..255)."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        paths = {k: data_dir / v for k, v in DATA_FILES.items()}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise SystemExit("missing dataset files: " + ", ".join(missing))
        arrays = {k: read_idx_gz(p) for k, p in paths.items()}
        # Labels must line up with images, otherwise accuracy numbers are noise.
        for split in ("train", "test"):
            n_img = arrays[f"{split}_images"].shape[0]
            n_lab = arrays[f"{split}_labels"].shape[0]
            if n_img != n_lab:
                raise SystemExit(f"{split}: {n_img} images but {n_lab} labels")

        def images(a: np.ndarray) -> torch.Tensor:
            # Add the channel dim so tensors already match the served shape.
            return torch.from_numpy(a.astype(np.float32)).unsqueeze(1)

        def labels(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a.astype(np.int64))

        self.train_x = images(arrays["train_images"])
        self.train_y = labels(arrays["train_labels"])
        self.test_x = images(arrays["test_images"])
        self.test_y = labels(arrays["test_labels"])

        # Statistics of the training split only, in the [0, 1] scale the
        # module divides into; the test split must not leak into them.
        scaled = arrays["train_images"].astype(np.float64) / 255.0
        self.mean = float(scaled.mean())
        self.std = float(scaled.std())

        self.files = [
            {"role": role, "file": DATA_FILES[role], "bytes": paths[role].stat().st_size,
             "sha256": sha256_file(paths[role])}
            for role in DATA_FILES
        ]


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

class Normalize(nn.Module):
    """Maps raw pixels (0..255) to zero-mean / unit-variance inputs.

    The constants are Final floats so TorchScript embeds them as graph
    constants: the artifact is self-describing and the C++ side never needs
    to know them.
    """

    scale: torch.jit.Final[float]
    mean: torch.jit.Final[float]
    std: torch.jit.Final[float]

    def __init__(self, mean: float, std: float):
        super().__init__()
        self.scale = 1.0 / 255.0
        self.mean = mean
        self.std = std

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return (image * self.scale - self.mean) / self.std


class FashionCNN(nn.Module):
    """Two 3x3 conv blocks with max-pooling, then two fully connected layers."""

    def __init__(self, mean: float, std: float, c1: int = 16, c2: int = 32,
                 hidden: int = 128, dropout: float = 0.25):
        super().__init__()
        self.normalize = Normalize(mean, std)
        # padding=1 keeps 28x28 through each conv so the pools give 14 then 7.
        self.conv1 = nn.Conv2d(1, c1, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(c2 * 7 * 7, hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.normalize(image)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


class FashionMLP(nn.Module):
    """784 -> 256 -> 128 -> 10; the cheap baseline next to the CNN."""

    def __init__(self, mean: float, std: float, h1: int = 256, h2: int = 128,
                 dropout: float = 0.2):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.fc1 = nn.Linear(28 * 28, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.fc3 = nn.Linear(h2, 10)
        self.dropout = nn.Dropout(dropout)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.normalize(image), 1)
        x = self.dropout(F.relu(self.fc1(x)))
        x = self.dropout(F.relu(self.fc2(x)))
        return self.fc3(x)


class Simple(nn.Module):
    """Triton's `simple` example: element-wise sum and difference of two INT32 tensors."""

    def forward(self, INPUT0: torch.Tensor, INPUT1: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        # int32 + int32 stays int32 under type promotion, so no casts are needed;
        # the self-check below verifies that nothing silently widens to int64.
        return INPUT0 + INPUT1, INPUT0 - INPUT1


# --------------------------------------------------------------------------
# Training / evaluation
# --------------------------------------------------------------------------

def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    # Cheap on CPU (the default kernels already are deterministic); it makes
    # the run fail instead of silently diverging if a nondeterministic op sneaks in.
    torch.use_deterministic_algorithms(True)


@torch.no_grad()
def predict_logits(model, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(x[i:i + EVAL_BATCH]) for i in range(0, x.shape[0], EVAL_BATCH)])


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == y).float().mean())


def per_class_accuracy(logits: torch.Tensor, y: torch.Tensor) -> Dict[str, float]:
    pred = logits.argmax(dim=1)
    return {FASHION_LABELS[c]: round(float((pred[y == c] == c).float().mean()), 4)
            for c in range(10)}


def train_classifier(model: nn.Module, data: FashionData, hp: dict, seed: int) -> dict:
    """Plain Adam training; returns per-epoch statistics for the lineage file."""
    # A dedicated generator keeps the shuffle order independent of whatever
    # else consumed the global RNG (e.g. weight init of a previous model).
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    # A smaller step for the last epoch(s) settles the weights; on this data it
    # is worth most of a point of test accuracy for no extra compute.
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=hp["lr_step_epochs"], gamma=hp["lr_gamma"])
    n = data.train_x.shape[0]
    history = []
    train_seconds = 0.0
    for epoch in range(hp["epochs"]):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        total_loss, seen = 0.0, 0
        for i in range(0, n, hp["batch_size"]):
            idx = perm[i:i + hp["batch_size"]]
            xb, yb = data.train_x[idx], data.train_y[idx]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total_loss += float(loss) * idx.shape[0]
            seen += idx.shape[0]
        sched.step()
        epoch_seconds = time.perf_counter() - t0
        train_seconds += epoch_seconds
        # Per-epoch test accuracy is only logged (it never steers training),
        # and its cost is kept out of the reported training time.
        model.eval()
        test_acc = accuracy(predict_logits(model, data.test_x), data.test_y)
        stats = {"epoch": epoch + 1, "train_loss": round(total_loss / seen, 5),
                 "test_accuracy": round(test_acc, 4),
                 "train_seconds": round(epoch_seconds, 2)}
        history.append(stats)
        print(f"    epoch {stats['epoch']}: loss {stats['train_loss']:.4f} "
              f"test acc {stats['test_accuracy']:.4f} ({stats['train_seconds']:.1f}s)", flush=True)
    return {"epochs": history, "train_seconds": train_seconds}


# --------------------------------------------------------------------------
# Repository layout
# --------------------------------------------------------------------------

def toml_list(values) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def config_toml(spec: dict) -> str:
    """Render config.toml in the exact shape the C++ parser expects."""
    lines = [f"# {c}" if c else "#" for c in spec["comments"]]
    lines.append("")
    lines.append(f'platform = "{spec.get("platform", "torchscript")}"')
    lines.append(f"max_batch_size = {spec['max_batch_size']}"
                 "              # largest batch the model takes; first dim of every tensor is the batch dim (-1)")
    if spec.get("labels"):
        lines.append(f'labels = "{spec["labels"]}"'
                     "            # optional, relative to this folder")
    for section, tensors in (("inputs", spec["inputs"]), ("outputs", spec["outputs"])):
        for name, dtype, shape in tensors:
            lines += ["", f"[[{section}]]", f'name = "{name}"',
                      f'datatype = "{dtype}"', f"shape = {toml_list(shape)}"]
    b, e = spec["batching"], spec["execution"]
    lines += ["", "[batching]",
              f"max_queue_delay_us = {b['max_queue_delay_us']}",
              f"preferred_batch_sizes = {toml_list(b['preferred_batch_sizes'])}",
              f"max_queue_size = {b['max_queue_size']}",
              "", "[execution]",
              f"workers = {e['workers']}",
              f"intra_op_threads = {e['intra_op_threads']}",
              f"warmup_batch_sizes = {toml_list(e['warmup_batch_sizes'])}"]
    # Optional end-of-line notes, keyed "section.key" (e.g. "execution.workers").
    notes = spec.get("notes", {})
    section = ""
    for i, line in enumerate(lines):
        if line.startswith("["):
            section = line.strip("[]")
        elif " = " in line and not line.startswith("#"):
            key = f"{section}.{line.split(' = ')[0]}"
            if key in notes:
                lines[i] = f"{line:<33}# {notes[key]}"
    return "\n".join(lines) + "\n"


FASHION_SERVING = {
    "max_batch_size": 64,
    "labels": "labels.txt",
    "inputs": [("image", "FP32", [-1, 1, 28, 28])],
    "outputs": [("logits", "FP32", [-1, 10])],
    "batching": {"max_queue_delay_us": 0, "preferred_batch_sizes": [32, 64],
                 "max_queue_size": 1024},
    "execution": {"workers": 2, "intra_op_threads": 1,
                  "warmup_batch_sizes": [1, 8, 32, 64]},
}

SIMPLE_SERVING = {
    "max_batch_size": 8,
    "labels": None,
    "inputs": [("INPUT0", "INT32", [-1, 16]), ("INPUT1", "INT32", [-1, 16])],
    "outputs": [("OUTPUT0", "INT32", [-1, 16]), ("OUTPUT1", "INT32", [-1, 16])],
    # Element-wise add is far cheaper than any wait for a batch to fill.
    "batching": {"max_queue_delay_us": 0, "preferred_batch_sizes": [],
                 "max_queue_size": 1024},
    "execution": {"workers": 1, "intra_op_threads": 1, "warmup_batch_sizes": [1, 8]},
}

FASHION_INPUT_COMMENT = [
    "Input: raw pixel values 0..255 as FP32, [N, 1, 28, 28] (28x28 grayscale,",
    "white garment on black). Normalization happens inside the model.",
    "Output: unnormalized class scores (logits); labels.txt maps index -> name.",
]

MODELS = {
    "fashion_cnn": {
        "cls": FashionCNN,
        "arch": {"c1": 16, "c2": 32, "hidden": 128, "dropout": 0.25},
        "train": {"optimizer": "Adam", "lr": 1e-3, "weight_decay": 0.0,
                  "batch_size": 128, "epochs": 7, "lr_step_epochs": 5, "lr_gamma": 0.3},
        "min_accuracy": 0.90,
        "serving": dict(FASHION_SERVING, comments=[
            "fashion_cnn: Fashion-MNIST classifier, small CNN",
            "(conv3x3 1->16, maxpool, conv3x3 16->32, maxpool, fc 1568->128, fc 128->10).",
            *FASHION_INPUT_COMMENT,
            "Generated by tools/train_models.py; see 1/lineage.json for provenance.",
        ]),
    },
    "fashion_mlp": {
        "cls": FashionMLP,
        "arch": {"h1": 256, "h2": 128, "dropout": 0.2},
        "train": {"optimizer": "Adam", "lr": 1e-3, "weight_decay": 0.0,
                  "batch_size": 128, "epochs": 5, "lr_step_epochs": 4, "lr_gamma": 0.3},
        "min_accuracy": 0.85,
        "serving": dict(FASHION_SERVING, comments=[
            "fashion_mlp: Fashion-MNIST classifier, multilayer perceptron (784->256->128->10).",
            "Cheaper and less accurate than fashion_cnn; same interface.",
            *FASHION_INPUT_COMMENT,
            "Generated by tools/train_models.py; see 1/lineage.json for provenance.",
        ]),
    },
    "simple": {
        "cls": Simple,
        "serving": dict(SIMPLE_SERVING, comments=[
            "simple: Triton's example model, no weights.",
            "OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1 (element-wise, INT32).",
            "Handy for protocol tests: outputs are exact and predictable.",
            "Generated by tools/train_models.py.",
        ]),
    },
}


# Gradient-boosted trees through libxgboost (tools/train_xgboost.py). Hyperparameters
# were picked on this 2-core machine: 200 rounds of depth-6 trees (10 per round) reach
# about 90% test accuracy in a few minutes with nthread=2, and the artifact stays ~6 MB.
# Row and column subsampling halve the work per round for a small loss per round;
# 32 bins are plenty for pixel values 0..255.
XGBOOST = {
    "fashion_xgb": {
        "rounds": 200,
        "params": {"booster": "gbtree", "objective": "multi:softprob", "num_class": 10,
                   "tree_method": "hist", "max_depth": 6, "eta": 0.25, "subsample": 0.6,
                   "colsample_bytree": 0.4, "max_bin": 32, "nthread": 2,
                   "eval_metric": ["mlogloss", "merror"]},
        "min_accuracy": 0.88,
        "serving": dict(
            FASHION_SERVING,
            platform="xgboost",
            outputs=[("logits", "FP32", [-1, 10]), ("probabilities", "FP32", [-1, 10])],
            # Predictions on one booster are thread-safe (docs/repository.md), so two
            # workers each predict a batch at once; nthread 1 keeps them to the two cores.
            execution={"workers": 2, "intra_op_threads": 1, "warmup_batch_sizes": [1, 64]},
            notes={
                "batching.max_queue_delay_us": "0: run what is queued as soon as a worker is free",
                "batching.preferred_batch_sizes": "sizes that run at once without waiting",
                "batching.max_queue_size": "waiting requests; beyond it new ones get 503",
                "execution.workers": "threads predicting at once on the one shared booster",
                "execution.intra_op_threads": "XGBoost's nthread: threads inside one prediction",
                "execution.warmup_batch_sizes": "run before the version reports ready",
            },
            comments=[
                "fashion_xgb: Fashion-MNIST classifier, gradient-boosted trees (XGBoost,",
                "200 rounds x 10 trees of depth <= 6, hist). Same input as fashion_cnn / fashion_mlp.",
                "Input: raw pixel values 0..255 as FP32, [N, 1, 28, 28] (28x28 grayscale,",
                "white garment on black), read as N rows of 784 features. No normalization:",
                "the trees split on raw pixel values.",
                "Outputs: logits = per-class margins (XGBoost's output_margin), probabilities =",
                "softmax(logits) (XGBoost's multi:softprob). labels.txt maps index -> name.",
                "Either output may be left out below; the backend serves the ones listed.",
                "Generated by tools/train_models.py --only fashion_xgb; see 1/lineage.json.",
            ]),
    },
}


def code_revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "uncommitted"
    rev = out.stdout.strip()
    return rev if out.returncode == 0 and rev else "uncommitted"


def base_lineage(name: str) -> dict:
    script = Path(__file__).resolve()
    return {
        "model": name,
        "version": VERSION,
        "artifact": "model.pt",
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "code": {
            "git_revision": code_revision(),
            "script": "tools/train_models.py",
            "script_sha256": sha256_file(script),
        },
        "environment": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "torch_num_threads": torch.get_num_threads(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        },
        "seed": SEED,
    }


def dump_json(obj) -> str:
    """Indented JSON, but with lists of scalars kept on one line for readability."""
    text = json.dumps(obj, indent=2)

    def collapse(m: "re.Match") -> str:
        items = [line.strip() for line in m.group(1).strip().splitlines()]
        return "[" + " ".join(items) + "]"

    # A bracket pair whose body holds no nested bracket/brace is a scalar list.
    return re.sub(r"\[([^\[\]{}]*)\]", collapse, text) + "\n"


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write-then-rename so a crashed run never leaves a half-written file that
    # a server watching the folder could pick up.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_script(scripted: torch.jit.ScriptModule, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    scripted.save(str(tmp))
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# Per-model builders
# --------------------------------------------------------------------------

def build_fashion(name: str, spec: dict, data: FashionData, out: Path) -> dict:
    model_dir = out / name
    seed_everything(SEED)
    model = spec["cls"](data.mean, data.std, **spec["arch"])
    hp = spec["train"]
    print(f"  training {name}: {hp}", flush=True)
    history = train_classifier(model, data, hp, SEED)
    train_seconds = history["train_seconds"]

    # eval() before scripting: the scripted module keeps the training flag,
    # and dropout must be off in the served artifact.
    model.eval()
    scripted = torch.jit.script(model)
    logits = predict_logits(scripted, data.test_x)
    acc = accuracy(logits, data.test_y)
    eager_acc = accuracy(predict_logits(model, data.test_x), data.test_y)
    if abs(acc - eager_acc) > 1e-9:
        raise SystemExit(f"{name}: scripted accuracy {acc} != eager accuracy {eager_acc}")
    if acc < spec["min_accuracy"]:
        raise SystemExit(f"{name}: test accuracy {acc:.4f} below required {spec['min_accuracy']}")

    artifact = model_dir / VERSION / "model.pt"
    save_script(scripted, artifact)

    # Reload exactly what the server will load and demand the same answers.
    reloaded = torch.jit.load(str(artifact))
    reloaded.eval()
    logits2 = predict_logits(reloaded, data.test_x)
    acc2 = accuracy(logits2, data.test_y)
    max_diff = float((logits - logits2).abs().max())
    same_pred = bool(torch.equal(logits.argmax(1), logits2.argmax(1)))
    if acc2 != acc or not same_pred or max_diff > 1e-5:
        raise SystemExit(f"{name}: reloaded artifact disagrees (acc {acc2} vs {acc}, "
                         f"same predictions {same_pred}, max |dlogit| {max_diff})")

    lineage = base_lineage(name)
    lineage.update({
        "artifact_sha256": sha256_file(artifact),
        "artifact_bytes": artifact.stat().st_size,
        "dataset": {
            "name": "Fashion-MNIST",
            "directory": str(data.data_dir),
            "files": data.files,
            "train_examples": int(data.train_x.shape[0]),
            "test_examples": int(data.test_x.shape[0]),
        },
        "preprocessing": {
            "client_input": "raw pixel values 0..255, FP32, [N, 1, 28, 28]",
            "in_model": "(x / 255 - mean) / std",
            "mean": data.mean,
            "std": data.std,
            "statistics_from": "training split",
        },
        "architecture": {"class": spec["cls"].__name__, **spec["arch"],
                         "parameters": sum(p.numel() for p in model.parameters())},
        "hyperparameters": hp,
        "training_time_s": round(train_seconds, 2),
        "training_history": history["epochs"],
        "metrics": {
            "test_accuracy": round(acc, 4),
            "test_correct": int((logits.argmax(1) == data.test_y).sum()),
            "test_examples": int(data.test_x.shape[0]),
            "per_class_test_accuracy": per_class_accuracy(logits, data.test_y),
            "required_min_accuracy": spec["min_accuracy"],
        },
        "reload_check": {"test_accuracy": round(acc2, 4), "identical_predictions": same_pred,
                         "max_abs_logit_diff": max_diff, "passed": True},
    })
    write_text(model_dir / VERSION / "lineage.json", dump_json(lineage))
    write_text(model_dir / "labels.txt", "\n".join(FASHION_LABELS) + "\n")
    write_text(model_dir / "config.toml", config_toml(spec["serving"]))
    print(f"  {name}: test accuracy {acc:.4f}, trained in {train_seconds:.1f}s, "
          f"{artifact.stat().st_size} bytes", flush=True)
    return {"name": name, "accuracy": acc, "train_seconds": train_seconds,
            "bytes": artifact.stat().st_size}


def simple_self_check(module) -> dict:
    """Exercise `simple` on fixed and random inputs; raise on any mismatch."""
    gen = torch.Generator().manual_seed(SEED)
    cases = [
        # The exact request shipped in examples/infer_simple.json.
        (torch.arange(16, dtype=torch.int32).reshape(1, 16),
         torch.ones(1, 16, dtype=torch.int32)),
        # Full batch, values small enough that neither sum nor difference overflows.
        (torch.randint(-2**20, 2**20, (8, 16), generator=gen, dtype=torch.int32),
         torch.randint(-2**20, 2**20, (8, 16), generator=gen, dtype=torch.int32)),
    ]
    for a, b in cases:
        s, d = module(a, b)
        for t, want in ((s, a.long() + b.long()), (d, a.long() - b.long())):
            if t.dtype != torch.int32 or list(t.shape) != list(a.shape):
                raise SystemExit(f"simple: output is {t.dtype} {list(t.shape)}, "
                                 f"want torch.int32 {list(a.shape)}")
            if not torch.equal(t.long(), want):
                raise SystemExit("simple: wrong output values")
    return {
        "cases": [list(a.shape) for a, _ in cases],
        "example_output0": cases[0][0].add(cases[0][1]).flatten().tolist(),
        "example_output1": cases[0][0].sub(cases[0][1]).flatten().tolist(),
        "output_dtype": "int32",
        "passed": True,
    }


def build_simple(name: str, spec: dict, out: Path) -> dict:
    model_dir = out / name
    seed_everything(SEED)
    model = spec["cls"]().eval()
    scripted = torch.jit.script(model)
    check_before = simple_self_check(scripted)
    artifact = model_dir / VERSION / "model.pt"
    save_script(scripted, artifact)
    check_after = simple_self_check(torch.jit.load(str(artifact)))
    if check_before != check_after:
        raise SystemExit("simple: reloaded artifact disagrees with the in-memory one")

    lineage = base_lineage(name)
    lineage.update({
        "artifact_sha256": sha256_file(artifact),
        "artifact_bytes": artifact.stat().st_size,
        "dataset": None,
        "hyperparameters": None,
        "training_time_s": 0.0,
        "metrics": {"test_accuracy": None,
                    "note": "no training; correctness is checked exactly instead"},
        "self_check": check_after,
    })
    write_text(model_dir / VERSION / "lineage.json", dump_json(lineage))
    write_text(model_dir / "config.toml", config_toml(spec["serving"]))
    print(f"  {name}: self-check passed, {artifact.stat().st_size} bytes", flush=True)
    return {"name": name, "accuracy": None, "train_seconds": 0.0,
            "bytes": artifact.stat().st_size}


# --------------------------------------------------------------------------
# Dynamic int8 variants (built from the fp32 artifacts, no training)
# --------------------------------------------------------------------------

# Fixed order, so the build does the same steps in the same order every time.
QUANT_ENGINES = ("onednn", "qnnpack")
# Batch 1 is an idle server, 64 the largest batch the batcher forms.
TIMING_BATCHES = (1, 64)
TIMING_ROUNDS = 5
# Dynamic quantization needs no calibration data but costs some accuracy; a
# bigger drop than this against the fp32 source fails the build.
MAX_INT8_ACCURACY_DROP = 0.01

QUANTIZED = {
    "fashion_mlp_int8": {
        "source": "fashion_mlp",
        "summary": [
            "fashion_mlp_int8: fashion_mlp (784->256->128->10) with dynamic int8 Linear layers",
            "(qint8 weights, activations quantized per call). Built from fashion_mlp/1/model.pt, not retrained.",
        ],
    },
    "fashion_cnn_int8": {
        "source": "fashion_cnn",
        "summary": [
            "fashion_cnn_int8: fashion_cnn with dynamic int8 fully connected layers (fc 1568->128,",
            "fc 128->10); the two convolutions stay fp32. Built from fashion_cnn/1/model.pt, not retrained.",
        ],
    },
}


def int8_serving(spec: dict, engine: str) -> dict:
    """Same serving config as the fp32 source; only the comments differ."""
    return dict(FASHION_SERVING, comments=[
        *spec["summary"],
        *FASHION_INPUT_COMMENT,
        "Int8 weights are packed for the quantized engine selected when the file is loaded;",
        f"the build timed {engine} fastest here (serve with --quantized-engine {engine}).",
        "Generated by tools/train_models.py --quantize; see 1/lineage.json for provenance.",
    ])


def pin_hash_seed(argv: List[str]) -> None:
    """Re-run this script once with PYTHONHASHSEED fixed.

    TorchScript writes a module's Final constants in set order, which follows
    Python's per-process string hashing: without a fixed seed two runs save
    equivalent but byte-different files. With it, the int8 artifacts are
    byte-for-byte reproducible.
    """
    if os.environ.get("PYTHONHASHSEED") is None:
        env = dict(os.environ, PYTHONHASHSEED="0")
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *argv], env)


def repo_path(path: Path) -> str:
    path = path.resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"


@torch.inference_mode()
def predict_logits_at(model, x: torch.Tensor, batch: int) -> torch.Tensor:
    """Logits computed `batch` images per call.

    Dynamic int8 layers quantize their input with the min/max of the whole
    call, so unlike fp32 the answer for one image depends a little on the
    other images in its batch; the int8 models are therefore scored per image
    (batch 1) and, for comparison, in the server's largest batch.
    """
    return torch.cat([model(x[i:i + batch]) for i in range(0, x.shape[0], batch)])


def rebuild_fp32(source: str, data: FashionData, out: Path):
    """The eager fp32 module of `source`, loaded from its artifact, plus checks.

    The artifact's state_dict carries the eager module's parameter names, and
    its normalization constants are TorchScript Finals, so the rebuilt module
    computes exactly what the artifact computes; this is verified on the test set.
    """
    spec = MODELS[source]
    artifact = out / source / VERSION / "model.pt"
    lineage_path = artifact.parent / "lineage.json"
    if not artifact.is_file() or not lineage_path.is_file():
        raise SystemExit(f"{artifact}: missing; build {source} first (it is not retrained here)")
    digest = sha256_file(artifact)
    src_lineage = json.loads(lineage_path.read_text())
    if src_lineage.get("artifact_sha256") != digest:
        raise SystemExit(f"{artifact}: sha256 {digest} is not the one recorded in {lineage_path}")

    scripted = torch.jit.load(str(artifact))
    scripted.eval()
    mean, std = float(scripted.normalize.mean), float(scripted.normalize.std)
    if abs(mean - data.mean) > 1e-12 or abs(std - data.std) > 1e-12:
        raise SystemExit(f"{source}: artifact normalizes with mean {mean}, std {std}; "
                         f"the training split gives {data.mean}, {data.std}")
    model = spec["cls"](mean, std, **spec["arch"])
    state = scripted.state_dict()
    # strict: every name and shape must match, nothing left over on either side.
    model.load_state_dict(state, strict=True)
    model.eval()

    ref = predict_logits_at(scripted, data.test_x, EVAL_BATCH)
    eager = predict_logits_at(model, data.test_x, EVAL_BATCH)
    max_diff = float((ref - eager).abs().max())
    if not torch.equal(ref.argmax(1), eager.argmax(1)) or max_diff > 1e-5:
        raise SystemExit(f"{source}: rebuilt eager module disagrees with the artifact "
                         f"(max |dlogit| {max_diff})")
    acc = accuracy(ref, data.test_y)
    if round(acc, 4) != src_lineage["metrics"]["test_accuracy"]:
        raise SystemExit(f"{source}: artifact scores {acc:.4f}, lineage says "
                         f"{src_lineage['metrics']['test_accuracy']}")
    info = {
        "model": source,
        "artifact": repo_path(artifact),
        "artifact_sha256": digest,
        "artifact_bytes": artifact.stat().st_size,
        "test_accuracy": round(acc, 4),
        "rebuild_check": {"state_dict_keys": list(state), "max_abs_logit_diff": max_diff,
                          "identical_predictions": True, "passed": True},
    }
    return model, scripted, ref, info, src_lineage


def int8_layers(qmodel: nn.Module) -> Dict[str, dict]:
    """Per quantized layer: its int8 weights and quantization parameters."""
    layers = {}
    for name, mod in qmodel.named_modules():
        if isinstance(mod, torch.ao.nn.quantized.dynamic.Linear):
            w, b = mod._weight_bias()
            layers[name] = {"weight_int8": w.int_repr(), "scale": w.q_scale(),
                            "zero_point": w.q_zero_point(), "qscheme": str(w.qscheme()),
                            "bias": b, "in_features": mod.in_features,
                            "out_features": mod.out_features}
    return layers


def same_int8_layers(a: Dict[str, dict], b: Dict[str, dict]) -> bool:
    if list(a) != list(b):
        return False
    for name in a:
        for key, va in a[name].items():
            vb = b[name][key]
            same = torch.equal(va, vb) if isinstance(va, torch.Tensor) else va == vb
            if not same:
                return False
    return True


def export_module(module: nn.Module, example: torch.Tensor) -> Tuple[bytes, str]:
    """TorchScript bytes of `module`: scripted, or traced if scripting fails."""
    try:
        exported = torch.jit.script(module)
        how = "torch.jit.script"
    except Exception as e:  # noqa: BLE001 - any scripting failure falls back to tracing
        with torch.no_grad():
            exported = torch.jit.trace(module, example)
        how = f"torch.jit.trace (torch.jit.script failed: {first_line(e)})"
    buf = io.BytesIO()
    torch.jit.save(exported, buf)
    return buf.getvalue(), how


def load_under(blob: bytes, engine: str):
    """Load TorchScript bytes with `engine` selected: int8 weights are packed
    for the current engine while loading, not when they are run."""
    torch.backends.quantized.engine = engine
    module = torch.jit.load(io.BytesIO(blob))
    module.eval()
    return module


def optimize_like_server(module, probe: torch.Tensor):
    """freeze + optimize_for_inference, as the server does at load.

    Returns (module to time, report). The optimized module is used if it runs
    and agrees with the plain one to 1e-4; the report also says whether it is
    bit-identical, which the C++ server additionally demands.
    """
    try:
        fast = torch.jit.optimize_for_inference(torch.jit.freeze(module))
        with torch.inference_mode():
            want, got = module(probe), fast(probe)
    except Exception as e:  # noqa: BLE001 - report why and serve the plain module
        return module, {"works": False, "error": first_line(e)}
    diff = float((want - got).abs().max())
    report = {"works": diff <= 1e-4, "bit_identical": bool(torch.equal(want, got)),
              "max_abs_diff": diff}
    return (fast if report["works"] else module), report


def time_candidates(candidates: Dict[str, tuple], inputs: Dict[int, torch.Tensor],
                    reps: int) -> Dict[str, dict]:
    """Median single-thread latency of each (module, engine) at each batch size.

    Candidates take turns in TIMING_ROUNDS rounds, so load from whatever else
    runs on the machine drifts over all of them alike instead of favouring
    whichever happened to run in a quiet moment.
    """
    samples = {(c, b): [] for c in candidates for b in inputs}
    per_round = max(1, reps // TIMING_ROUNDS)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for module, engine in candidates.values():
                torch.backends.quantized.engine = engine
                for x in inputs.values():
                    # Lets the profiling executor specialize the graph before timing.
                    for _ in range(20):
                        module(x)
            for _ in range(TIMING_ROUNDS):
                for c, (module, engine) in candidates.items():
                    torch.backends.quantized.engine = engine
                    for b, x in inputs.items():
                        for _ in range(per_round):
                            t0 = time.perf_counter()
                            module(x)
                            samples[(c, b)].append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)

    def summary(s: List[float]) -> dict:
        us = [v * 1e6 for v in s]
        deciles = statistics.quantiles(us, n=10)
        return {"median_us": round(statistics.median(us), 1), "p10_us": round(deciles[0], 1),
                "p90_us": round(deciles[-1], 1), "calls": len(us)}

    return {c: {f"batch_{b}": summary(samples[(c, b)]) for b in inputs} for c in candidates}


def build_quantized(name: str, spec: dict, data: FashionData, out: Path,
                    engine_choice: str, reps: int) -> dict:
    model_dir = out / name
    source = spec["source"]
    seed_everything(SEED)
    print(f"  quantizing {source} -> {name}", flush=True)
    fp32_model, fp32_scripted, fp32_logits, source_info, src_lineage = rebuild_fp32(source, data, out)

    engines = [e for e in QUANT_ENGINES if e in torch.backends.quantized.supported_engines]
    if not engines:
        raise SystemExit(f"no int8 engine among {QUANT_ENGINES} in this torch "
                         f"({torch.backends.quantized.supported_engines})")
    if engine_choice != "auto" and engine_choice not in engines:
        raise SystemExit(f"--int8-engine {engine_choice}: this torch has {engines}")

    # Quantize with each engine selected: dynamic quantization only rounds the
    # weights, so the int8 weights (and hence the file) must not depend on it.
    qmodels, layers = {}, {}
    for engine in engines:
        torch.backends.quantized.engine = engine
        qmodels[engine] = torch.ao.quantization.quantize_dynamic(
            fp32_model, {nn.Linear}, dtype=torch.qint8)  # a copy: fp32_model stays fp32
        qmodels[engine].eval()
        layers[engine] = int8_layers(qmodels[engine])
    weights_engine_independent = all(same_int8_layers(layers[engines[0]], layers[e])
                                      for e in engines)
    if not weights_engine_independent:
        raise SystemExit(f"{name}: int8 weights differ between engines {engines}; "
                         "the artifact would depend on the engine")
    quantized_layers = list(layers[engines[0]])
    fp32_layers = [n for n, m in fp32_model.named_children()
                   if n not in quantized_layers and any(True for _ in m.parameters())]

    torch.backends.quantized.engine = engines[0]
    blob, export = export_module(qmodels[engines[0]], data.test_x[:TIMING_BATCHES[-1]])

    # What the server would run: the file loaded under each engine, then frozen.
    probe = data.test_x[:TIMING_BATCHES[-1]]
    fp32_fast, fp32_opt = optimize_like_server(fp32_scripted, probe)
    candidates = {"fp32": (fp32_scripted, engines[0]), "fp32_optimized": (fp32_fast, engines[0])}
    freeze_reports = {"fp32": fp32_opt}
    per_engine = {}
    for engine in engines:
        plain = load_under(blob, engine)
        fast, report = optimize_like_server(plain, probe)
        freeze_reports[f"int8_{engine}"] = report
        candidates[f"int8_{engine}"] = (plain, engine)
        candidates[f"int8_{engine}_optimized"] = (fast, engine)
        torch.backends.quantized.engine = engine
        logits1 = predict_logits_at(plain, data.test_x, 1)
        logits64 = predict_logits_at(plain, data.test_x, TIMING_BATCHES[-1])
        per_engine[engine] = {"logits": logits1, "logits64": logits64}
        print(f"    {engine}: test accuracy {accuracy(logits1, data.test_y):.4f} (batch 1), "
              f"{accuracy(logits64, data.test_y):.4f} (batch {TIMING_BATCHES[-1]}); "
              f"freeze+optimize {'ok' if report['works'] else 'failed: ' + report.get('error', '')}",
              flush=True)

    inputs = {b: data.test_x[:b].clone() for b in TIMING_BATCHES}
    timings = time_candidates(candidates, inputs, reps)
    for c, t in timings.items():
        print(f"    {c:<24} " + "  ".join(f"b{b}: {t[f'batch_{b}']['median_us']:8.1f} us"
                                          for b in TIMING_BATCHES), flush=True)

    def served(engine: str) -> str:
        # The module the server ends up with: optimized if that works, else plain.
        return f"int8_{engine}_optimized" if freeze_reports[f"int8_{engine}"]["works"] else f"int8_{engine}"

    scores = {e: statistics.geometric_mean(
        [timings[served(e)][f"batch_{b}"]["median_us"] for b in TIMING_BATCHES]) for e in engines}
    fastest = min(engines, key=lambda e: scores[e])
    engine = fastest if engine_choice == "auto" else engine_choice

    chosen = per_engine[engine]
    logits = chosen["logits"]
    acc = accuracy(logits, data.test_y)
    acc64 = accuracy(chosen["logits64"], data.test_y)
    fp32_acc = accuracy(fp32_logits, data.test_y)
    if acc < fp32_acc - MAX_INT8_ACCURACY_DROP:
        raise SystemExit(f"{name}: int8 accuracy {acc:.4f} is more than "
                         f"{MAX_INT8_ACCURACY_DROP} below fp32 {fp32_acc:.4f}")

    artifact = model_dir / VERSION / "model.pt"
    artifact.parent.mkdir(parents=True, exist_ok=True)
    tmp = artifact.with_name(artifact.name + ".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, artifact)

    # Reload exactly what the server will load, under the chosen engine, and
    # demand the same answers as the in-memory module had.
    reloaded = load_under(artifact.read_bytes(), engine)
    logits2 = predict_logits_at(reloaded, data.test_x, 1)
    acc2 = accuracy(logits2, data.test_y)
    max_diff = float((logits - logits2).abs().max())
    same_pred = bool(torch.equal(logits.argmax(1), logits2.argmax(1)))
    if acc2 != acc or not same_pred or max_diff > 1e-6:
        raise SystemExit(f"{name}: reloaded artifact disagrees (acc {acc2} vs {acc}, "
                         f"same predictions {same_pred}, max |dlogit| {max_diff})")

    other_engines = {}
    for e in engines:
        if e == engine:
            continue
        lo = per_engine[e]["logits"]
        other_engines[e] = {
            "loads_and_runs": True,
            "test_accuracy": round(accuracy(lo, data.test_y), 4),
            "predictions_equal_to_chosen_engine": round(float((lo.argmax(1) == logits.argmax(1)).float().mean()), 4),
            "max_abs_logit_diff_vs_chosen_engine": float((lo - logits).abs().max()),
        }

    fp32_pred = fp32_logits.argmax(1)
    lineage = base_lineage(name)
    lineage.update({
        "artifact_sha256": sha256_file(artifact),
        "artifact_bytes": artifact.stat().st_size,
        "source": source_info,
        "dataset": {
            "name": "Fashion-MNIST",
            "directory": str(data.data_dir),
            "files": [f for f in data.files if f["role"].startswith("test_")],
            "test_examples": int(data.test_x.shape[0]),
            "note": "no training: the test split is used for accuracy and timing only",
        },
        "preprocessing": src_lineage["preprocessing"],
        "architecture": {"class": MODELS[source]["cls"].__name__, **MODELS[source]["arch"],
                         "parameters": sum(p.numel() for p in fp32_model.parameters()),
                         "int8_layers": quantized_layers, "fp32_layers": fp32_layers},
        "hyperparameters": None,
        "training_time_s": 0.0,
        "quantization": {
            "method": "post-training dynamic quantization (no calibration data)",
            "call": "torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)",
            "weights": "qint8, one scale per tensor, zero point 0, from the min/max of the fp32 weights",
            "activations": "quint8 at run time, scale from the min/max of each call's input (whole batch)",
            "export": export,
            "quantized_with_engines": engines,
            "int8_weights_identical_across_engines": weights_engine_independent,
            "layers": {n: {"in_features": l["in_features"], "out_features": l["out_features"],
                           "weight_scale": l["scale"], "weight_zero_point": l["zero_point"],
                           "qscheme": l["qscheme"]}
                       for n, l in layers[engine].items()},
        },
        "engine": {
            "chosen": engine,
            "selected_by": ("fastest: lowest geometric mean of the batch-1 and batch-64 median latency "
                            "of the module the server would run (frozen + optimized where that works)"
                            if engine_choice == "auto" else "--int8-engine"),
            "fastest_measured": fastest,
            "score_us": {e: round(s, 1) for e, s in scores.items()},
            "supported_engines": list(torch.backends.quantized.supported_engines),
            "when_it_matters": "int8 weights are packed for the engine selected when torch.jit.load runs; "
                               "the engine at quantization or at inference time makes no difference. "
                               "Select it before loading (server: --quantized-engine).",
            "other_engines": other_engines,
        },
        "freeze_optimize_for_inference": freeze_reports,
        "timing": {
            "intra_op_threads": 1,
            "calls_per_figure": reps // TIMING_ROUNDS * TIMING_ROUNDS,
            "rounds": TIMING_ROUNDS,
            "input": "the first N test images",
            "note": "wall time of one forward call in this process, on a shared machine; "
                    "compare within this table, not across runs",
            "candidates": timings,
        },
        "metrics": {
            "test_accuracy": round(acc, 4),
            "test_correct": int((logits.argmax(1) == data.test_y).sum()),
            "test_examples": int(data.test_x.shape[0]),
            "evaluated_at_batch": 1,
            f"test_accuracy_at_batch_{TIMING_BATCHES[-1]}": round(acc64, 4),
            f"predictions_changed_at_batch_{TIMING_BATCHES[-1]}":
                int((chosen["logits64"].argmax(1) != logits.argmax(1)).sum()),
            "per_class_test_accuracy": per_class_accuracy(logits, data.test_y),
            "fp32_test_accuracy": round(fp32_acc, 4),
            "accuracy_change_vs_fp32": round(acc - fp32_acc, 4),
            "max_allowed_drop": MAX_INT8_ACCURACY_DROP,
            "predictions_equal_to_fp32": round(float((logits.argmax(1) == fp32_pred).float().mean()), 4),
            "max_abs_logit_diff_vs_fp32": float((logits - fp32_logits).abs().max()),
        },
        "size": {"bytes": artifact.stat().st_size, "fp32_bytes": source_info["artifact_bytes"],
                 "ratio_to_fp32": round(artifact.stat().st_size / source_info["artifact_bytes"], 3)},
        "reload_check": {"engine": engine, "test_accuracy": round(acc2, 4),
                         "identical_predictions": same_pred, "max_abs_logit_diff": max_diff,
                         "passed": True},
    })
    write_text(model_dir / VERSION / "lineage.json", dump_json(lineage))
    write_text(model_dir / "labels.txt", "\n".join(FASHION_LABELS) + "\n")
    write_text(model_dir / "config.toml", config_toml(int8_serving(spec, engine)))
    print(f"  {name}: test accuracy {acc:.4f} (fp32 {fp32_acc:.4f}), engine {engine}, "
          f"{artifact.stat().st_size} bytes", flush=True)
    return {"name": name, "accuracy": acc, "train_seconds": 0.0,
            "bytes": artifact.stat().st_size}


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "models",
                    help="model repository folder (default: <repo>/models)")
    ap.add_argument("--only", choices=sorted(MODELS) + sorted(XGBOOST) + sorted(QUANTIZED),
                    action="append",
                    help="build only this model (repeatable)")
    ap.add_argument("--quantize", action="store_true",
                    help="build the int8 models (" + ", ".join(QUANTIZED) + ") from the fp32 "
                         "artifacts already in --out, without training anything")
    ap.add_argument("--int8-engine", choices=["auto", *QUANT_ENGINES], default="auto",
                    help="quantized engine recorded for the int8 models (default: the faster one here)")
    ap.add_argument("--timing-reps", type=int, default=300,
                    help="timed calls per figure when comparing int8 engines (default 300)")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                    help="folder with the four Fashion-MNIST .gz files")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch intra-op threads for training (default 2)")
    args = ap.parse_args(argv)

    selected = list(args.only or [])
    if args.quantize:
        selected += [n for n in QUANTIZED if n not in selected]
    if not selected:
        selected = list(MODELS) + list(XGBOOST) + list(QUANTIZED)
    # The int8 models are made from the fp32 artifacts, so they come last.
    names = ([n for n in selected if n in MODELS] + [n for n in selected if n in XGBOOST] +
             [n for n in selected if n in QUANTIZED])
    if any(n in QUANTIZED for n in names):
        pin_hash_seed(argv)

    torch.set_num_threads(args.threads)
    data = None
    if any(n != "simple" for n in names):
        print(f"loading Fashion-MNIST from {args.data_dir}", flush=True)
        data = FashionData(args.data_dir)
        print(f"  train {tuple(data.train_x.shape)}, test {tuple(data.test_x.shape)}, "
              f"mean {data.mean:.4f}, std {data.std:.4f}", flush=True)

    results = []
    for name in names:
        if name in QUANTIZED:
            results.append(build_quantized(name, QUANTIZED[name], data, args.out,
                                           args.int8_engine, args.timing_reps))
            continue
        if name in XGBOOST:
            import train_xgboost  # beside this file; needs only numpy and libxgboost
            results.append(train_xgboost.build_fashion_xgb(name, XGBOOST[name], data, args.out,
                                                           sys.modules[__name__]))
            continue
        spec = MODELS[name]
        if name == "simple":
            results.append(build_simple(name, spec, args.out))
        else:
            results.append(build_fashion(name, spec, data, args.out))

    print("summary:")
    for r in results:
        acc = "n/a" if r["accuracy"] is None else f"{r['accuracy']:.4f}"
        print(f"  {r['name']:<16} accuracy {acc:<7} train {r['train_seconds']:6.1f}s  "
              f"{r['bytes']:>9} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
