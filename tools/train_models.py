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
    """784 -> 160 -> 10; the cheap model next to the CNN, and the cascade's fast stage."""

    def __init__(self, mean: float, std: float, hidden: int = 160, dropout: float = 0.2):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.fc1 = nn.Linear(28 * 28, hidden)
        self.fc2 = nn.Linear(hidden, 10)
        self.dropout = nn.Dropout(dropout)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.normalize(image), 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


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
    if isinstance(values, str):  # a keyword such as warmup_batch_sizes = "all"
        return f'"{values}"'
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
    "execution": {"workers": 1, "intra_op_threads": 1,
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
        "serving": dict(FASHION_SERVING, execution=dict(
            FASHION_SERVING["execution"], warmup_batch_sizes="all"), notes={
                "execution.warmup_batch_sizes": (
                    "every size 1..64: each new size costs its first forward extra (oneDNN "
                    "sets up its convolutions per shape), and batches and a cascade's "
                    "escalations come in any size"),
            }, comments=[
            "fashion_cnn: Fashion-MNIST classifier, small CNN",
            "(conv3x3 1->16, maxpool, conv3x3 16->32, maxpool, fc 1568->128, fc 128->10).",
            *FASHION_INPUT_COMMENT,
            "Generated by tools/train_models.py; see 1/lineage.json for provenance.",
        ]),
    },
    "fashion_mlp": {
        "cls": FashionMLP,
        "arch": {"hidden": 160, "dropout": 0.2},
        "train": {"optimizer": "Adam", "lr": 1e-3, "weight_decay": 0.0,
                  "batch_size": 128, "epochs": 12, "lr_step_epochs": 9, "lr_gamma": 0.3},
        "min_accuracy": 0.85,
        "serving": dict(FASHION_SERVING, comments=[
            "fashion_mlp: Fashion-MNIST classifier, multilayer perceptron (784->160->10).",
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
# Dynamic int8 variants (built from the fp32 artifacts, no training, by quantize_int8.py)
# --------------------------------------------------------------------------

# Fixed order, so the build does the same steps in the same order every time.
QUANT_ENGINES = ("onednn", "qnnpack")
QUANTIZED = {
    "fashion_mlp_int8": {
        "source": "fashion_mlp",
        "summary": [
            "fashion_mlp_int8: fashion_mlp (784->160->10) with dynamic int8 Linear layers",
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
            from quantize_int8 import build_quantized  # beside this file
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
