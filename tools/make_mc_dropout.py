#!/usr/bin/python3
"""Make the bundled MC dropout model, fashion_mlp_mc, from fashion_mlp's artifact.

    /usr/bin/python3 tools/make_mc_dropout.py [--out models] [--passes 20]

Nothing is trained: fashion_mlp was trained with dropout (p = 0.2, one nn.Dropout
module applied after the hidden layer) and scripted in eval mode, so its model.pt
still holds the Dropout module. Ferry's [mc_dropout] table keeps that module active
at serving time and averages `passes` stochastic forward passes per row. This script
copies the artifact, writes the config, the labels and a lineage.json that records
where the file came from and the test accuracy of the MC mean, measured here with
the same number of passes.

Run `ferry calibrate --model fashion_mlp_mc --data data/fashion_calib.ferryset` after it:
MC dropout's probabilities are not those of the plain model, so they get their own
temperature and conformal thresholds.
"""

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_models as tm  # noqa: E402  (beside this file)

SOURCE = "fashion_mlp"
NAME = "fashion_mlp_mc"
SEED = 20240

CONFIG = """\
# fashion_mlp_mc: fashion_mlp's artifact served with MC dropout. Every row runs through
# `passes` forward passes with the model's dropout active (new masks each pass); the
# served probabilities are their mean and `epistemic` their disagreement (the mutual
# information between prediction and pass, in nats). A batch of B rows costs one
# forward of passes x B rows: about `passes` times fashion_mlp's compute.
# Input: raw pixel values 0..255 as FP32, [N, 1, 28, 28], as fashion_mlp.
# Made by tools/make_mc_dropout.py; see 1/lineage.json. See docs/uncertainty.md.

platform = "torchscript"
max_batch_size = 64
labels = "labels.txt"

[mc_dropout]
passes = {passes}

[[inputs]]
name = "image"
datatype = "FP32"
shape = [-1, 1, 28, 28]

[[outputs]]
name = "probabilities"
datatype = "FP32"
shape = [-1, 10]

[[outputs]]
name = "logits"                  # log of the mean probabilities (calibration fits on these)
datatype = "FP32"
shape = [-1, 10]

[[outputs]]
name = "epistemic"
datatype = "FP32"
shape = [-1]

[batching]
max_queue_delay_us = 0
max_queue_size = 1024

[execution]
workers = 2
intra_op_threads = 1
warmup_batch_sizes = [1, 8, 64]
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mc_accuracy(module, x: torch.Tensor, y: torch.Tensor, passes: int) -> float:
    torch.manual_seed(SEED)
    dropout = [m for _, m in module.named_modules() if m.original_name.startswith("Dropout")]
    if not dropout:
        raise SystemExit(f"{SOURCE}: the artifact has no Dropout module")
    for m in dropout:
        m.train()
    with torch.no_grad():
        mean = torch.zeros(x.shape[0], 10)
        for _ in range(passes):
            mean += torch.softmax(module(x), dim=1)
    for m in dropout:
        m.eval()
    return float((mean.argmax(1) == y).float().mean())


def main(argv) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=tm.REPO_ROOT / "models")
    ap.add_argument("--passes", type=int, default=20)
    ap.add_argument("--data-dir", type=Path, default=tm.DEFAULT_DATA_DIR)
    args = ap.parse_args(argv)

    source = args.out / SOURCE / tm.VERSION / "model.pt"
    target_dir = args.out / NAME / tm.VERSION
    target_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target_dir / "model.pt")

    data = tm.FashionData(args.data_dir)
    torch.set_num_threads(2)
    module = torch.jit.load(str(target_dir / "model.pt"))
    module.eval()
    accuracy = mc_accuracy(module, data.test_x, data.test_y, args.passes)
    source_lineage = json.loads((args.out / SOURCE / tm.VERSION / "lineage.json").read_text())

    lineage = tm.base_lineage(NAME)
    lineage["code"].update({"script": "tools/make_mc_dropout.py",
                            "script_sha256": sha256(Path(__file__).resolve())})
    lineage.update({
        "derived_from": {"model": SOURCE, "version": tm.VERSION, "artifact_sha256": sha256(source),
                         "source_test_accuracy": source_lineage["metrics"]["test_accuracy"]},
        "artifact_sha256": sha256(target_dir / "model.pt"),
        "mc_dropout": {"passes": args.passes, "dropout_p": source_lineage["architecture"]["dropout"],
                       "seed": SEED},
        "metrics": {"test_accuracy": round(accuracy, 4),
                    "test_examples": int(data.test_x.shape[0]),
                    "measured_as": f"argmax of the mean softmax over {args.passes} passes"},
    })
    tm.write_text(target_dir / "lineage.json", tm.dump_json(lineage))
    tm.write_text(args.out / NAME / "labels.txt", "\n".join(tm.FASHION_LABELS) + "\n")
    tm.write_text(args.out / NAME / "config.toml", CONFIG.format(passes=args.passes))
    print(f"{NAME}: {args.passes} passes, MC test accuracy {accuracy:.4f} "
          f"({SOURCE}: {source_lineage['metrics']['test_accuracy']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
