#!/usr/bin/python3
"""Cut Ferry's fixed Fashion-MNIST calibration and evaluation sets from Debian's dataset.

    /usr/bin/python3 tools/make_splits.py [--data-dir DIR] [--out-dir data]

The 10,000 test images (t10k) are split in two, always the same way, so that results
compare across runs and machines: the first 5,000 calibrate (`ferry calibrate`), the last
5,000 evaluate (`ferry evaluate`). Neither half was used to train the bundled models.

Writes <out-dir>/fashion_calib.ferryset and <out-dir>/fashion_eval.ferryset in Ferry's
labeled-set format (docs/uncertainty.md): FP32 pixels 0..255 shaped [N, 1, 28, 28], the
input of the bundled fashion_* models, with int64 labels. Only numpy is needed. The
bytes are deterministic, so the SHA-256 that calibration.json records is reproducible.
"""

import argparse
import gzip
import hashlib
import json
import struct
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
SPLIT = 5000
CLASSES = 10


def read_idx_gz(path: Path) -> np.ndarray:
    """Decode a gzip-compressed uint8 idx file."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    if raw[:3] != b"\x00\x00\x08":
        raise SystemExit(f"{path}: not a uint8 idx file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def ferryset_bytes(rows: np.ndarray, labels: np.ndarray, classes: int, description: str) -> bytes:
    """A labeled set: magic, version, JSON header, int64 labels, row-major rows."""
    rows = np.ascontiguousarray(rows.astype("<f4"))
    header = json.dumps({"datatype": "FP32", "shape": list(rows.shape), "classes": classes,
                         "description": description}).encode("utf-8")
    return (b"FERRYSET" + struct.pack("<II", 1, len(header)) + header
            + labels.astype("<i8").tobytes() + rows.tobytes())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "data")
    args = parser.parse_args()

    images_path = args.data_dir / "t10k-images-idx3-ubyte.gz"
    labels_path = args.data_dir / "t10k-labels-idx1-ubyte.gz"
    for p in (images_path, labels_path):
        if not p.is_file():
            raise SystemExit(f"{p} not found: install Debian's dataset-fashion-mnist")
    images = read_idx_gz(images_path)
    labels = read_idx_gz(labels_path)
    if images.shape != (2 * SPLIT, 28, 28) or labels.shape != (2 * SPLIT,):
        raise SystemExit(f"unexpected t10k shapes {images.shape}, {labels.shape}")
    pixels = images.reshape(-1, 1, 28, 28)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    splits = {
        "fashion_calib": (slice(0, SPLIT), "Fashion-MNIST t10k images 0-4999 (calibration half)"),
        "fashion_eval": (slice(SPLIT, 2 * SPLIT), "Fashion-MNIST t10k images 5000-9999 (evaluation half)"),
    }
    for name, (rows, description) in splits.items():
        data = ferryset_bytes(pixels[rows], labels[rows], CLASSES, description)
        out = args.out_dir / f"{name}.ferryset"
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(out)
        counts = np.bincount(labels[rows], minlength=CLASSES)
        print(f"{out}: {SPLIT} rows, {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}, "
              f"per class {counts.min()}..{counts.max()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
