#!/usr/bin/python3
"""Quick single-thread forward-pass timings of the exported models (information only).

    /usr/bin/python3 tools/time_models.py [--models models] [--reps 200]

Each artifact is loaded the way a server would, then frozen and passed
through torch.jit.optimize_for_inference, and timed at batch 1 and batch 64
with one intra-op thread. The numbers are a rough baseline for judging the
server's own overhead, not a benchmark: they are taken on whatever else the
machine is doing at the time.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import List

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


def example_inputs(name: str, batch: int) -> List[torch.Tensor]:
    gen = torch.Generator().manual_seed(batch)
    if name == "simple":
        return [torch.randint(-100, 100, (batch, 16), generator=gen, dtype=torch.int32)
                for _ in range(2)]
    # Raw pixel range, as clients send it.
    return [torch.randint(0, 256, (batch, 1, 28, 28), generator=gen).float()]


def time_call(fn, inputs, reps: int) -> float:
    """Median wall time of one call in microseconds."""
    # Warm-up lets the profiling executor specialize the graph before timing.
    for _ in range(20):
        fn(*inputs)
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(*inputs)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e6


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=REPO_ROOT / "models")
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 intra-op thread, median of {args.reps} calls")
    for artifact in sorted(args.models.glob("*/1/model.pt")):
        name = artifact.parent.parent.name
        plain = torch.jit.load(str(artifact)).eval()
        fast = torch.jit.optimize_for_inference(torch.jit.freeze(plain))
        row = [f"{name:<12} {artifact.stat().st_size / 1024:8.1f} KiB"]
        with torch.inference_mode():
            for batch in args.batches:
                inputs = example_inputs(name, batch)
                # The optimized graph must compute the same thing as the artifact.
                a, b = plain(*inputs), fast(*inputs)
                a = a if isinstance(a, tuple) else (a,)
                b = b if isinstance(b, tuple) else (b,)
                diff = max(float((x.double() - y.double()).abs().max()) for x, y in zip(a, b))
                us_plain = time_call(plain, inputs, args.reps)
                us_fast = time_call(fast, inputs, args.reps)
                row.append(f"b{batch}: {us_fast:8.1f} us (unfrozen {us_plain:8.1f}, "
                           f"max|diff| {diff:.1e})")
        print("  ".join(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
