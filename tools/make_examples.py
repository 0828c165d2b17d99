#!/usr/bin/python3
"""Write the example inference requests in examples/ from real Fashion-MNIST test images.

    /usr/bin/python3 tools/make_examples.py [--out examples] [--data-dir DIR]

Only numpy is needed (no torch), so this runs anywhere. The request bodies
follow the KServe V2 / Triton HTTP JSON protocol; examples/expected.json
records which t10k images went into which file, with their true labels, so
a reader can check the server's answers against ground truth.
"""

import argparse
import gzip
import hashlib
import json
import sys
from pathlib import Path
from typing import List

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
# Must match models/fashion_*/labels.txt (written by tools/train_models.py).
FASHION_LABELS = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


def read_idx_gz(path: Path) -> np.ndarray:
    """Decode a gzip-compressed uint8 idx file (see train_models.py for the format)."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise SystemExit(f"{path}: not a uint8 idx file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def first_index_of(labels: np.ndarray, cls: int) -> int:
    return int(np.flatnonzero(labels == cls)[0])


# ---- formatting ---------------------------------------------------------
# json.dumps(indent=...) would put each of the 784 pixels on its own line.
# This small writer keeps lists of scalars on one line (so a nested image
# shows one 28-pixel row per line) and lets a flat pixel array be broken
# after every image row via a pre-rendered Raw chunk.

class Raw(str):
    """Already-rendered JSON text, inserted verbatim."""


def dumps(obj, level: int = 0) -> str:
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(obj, Raw):
        return str(obj)
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        if all(not isinstance(v, (dict, list)) for v in obj):
            return "[" + ", ".join(json.dumps(v) for v in obj) + "]"
        return "[\n" + ",\n".join(inner + dumps(v, level + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj)


def write_json(path: Path, obj) -> None:
    text = dumps(obj) + "\n"
    # Guard the hand-made formatting: the result must still be valid JSON.
    json.loads(text)
    path.write_text(text)


def pixels(images: np.ndarray):
    # Pixels are whole numbers but the tensor is FP32; Python floats render
    # as "12.0", which says so to a human reader (parsers accept 12 or 12.0).
    return images.astype(np.float64).tolist()


def flat_rows(images: np.ndarray, level: int) -> Raw:
    """Flat (row-major) data array, visually broken after every image row."""
    pad, inner = "  " * level, "  " * (level + 1)
    rows = [", ".join(json.dumps(v) for v in r) for r in pixels(images.reshape(-1, 28))]
    return Raw("[\n" + inner + (",\n" + inner).join(rows) + "\n" + pad + "]")


def image_request(request_id: str, images: np.ndarray, nested_form: bool,
                  outputs: list = None) -> dict:
    n = images.shape[0]
    # "data" sits at nesting level 3: document -> "inputs" list -> tensor object.
    data = pixels(images.reshape(n, 1, 28, 28)) if nested_form else flat_rows(images, 3)
    body = {"id": request_id,
            "inputs": [{"name": "image", "shape": [n, 1, 28, 28], "datatype": "FP32",
                        "data": data}]}
    if outputs is not None:
        body["outputs"] = outputs
    return body


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "examples")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = ap.parse_args(argv)

    images = read_idx_gz(args.data_dir / TEST_IMAGES)
    labels = read_idx_gz(args.data_dir / TEST_LABELS)
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise SystemExit(f"unexpected test set shapes {images.shape} / {labels.shape}")

    # Picks are deterministic so regenerating gives byte-identical files.
    one = [0]                                                    # first test image
    # Four different classes, so a batched answer is easy to tell apart by eye.
    four = [first_index_of(labels, c) for c in (0, 3, 4, 8)]     # T-shirt, Dress, Coat, Bag
    # A shirt: the class the models confuse most (with T-shirt, pullover, coat),
    # which makes the top-3 answer more informative than for an easy class.
    top3 = [first_index_of(labels, 6)]

    args.out.mkdir(parents=True, exist_ok=True)
    files = {
        "infer_cnn_1.json": (one, image_request("example-1", images[one], nested_form=False)),
        "infer_cnn_4.json": (four, image_request("example-4", images[four], nested_form=True)),
        "infer_top3.json": (top3, image_request(
            "example-top3", images[top3], nested_form=False,
            outputs=[{"name": "logits", "parameters": {"classification": 3}}])),
    }
    for name, (_, body) in files.items():
        write_json(args.out / name, body)

    simple_in0 = list(range(16))
    simple_in1 = [1] * 16
    simple = {
        "id": "example-simple",
        "inputs": [
            {"name": "INPUT0", "shape": [1, 16], "datatype": "INT32", "data": simple_in0},
            {"name": "INPUT1", "shape": [1, 16], "datatype": "INT32", "data": simple_in1},
        ],
    }
    write_json(args.out / "infer_simple.json", simple)

    with open(args.data_dir / TEST_IMAGES, "rb") as fh:
        images_sha = hashlib.sha256(fh.read()).hexdigest()
    expected = {
        "dataset": "Fashion-MNIST test split (t10k)",
        "images_file": TEST_IMAGES,
        "images_sha256": images_sha,
        "note": "true labels of the images in each request, in batch order; "
                "a correct model usually, but not always, predicts them",
        "requests": {
            name: [{"t10k_index": i, "label": int(labels[i]),
                    "label_name": FASHION_LABELS[labels[i]]} for i in idx]
            for name, (idx, _) in files.items()
        },
        # simple is plain arithmetic, so its answer is known exactly.
        "simple": {
            "request": "infer_simple.json",
            "OUTPUT0": [a + b for a, b in zip(simple_in0, simple_in1)],
            "OUTPUT1": [a - b for a, b in zip(simple_in0, simple_in1)],
        },
    }
    write_json(args.out / "expected.json", expected)
    for name in list(files) + ["infer_simple.json", "expected.json"]:
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
