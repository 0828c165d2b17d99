"""The in-process limit: build/ferry_limit forwards a model through Ferry's own backend
with no server around it (bench/limit.cc).

The sweep tries every batch size under three thread layouts, {1 intra-op thread x 1
forwarding thread, 2 x 1, 1 x 2 in parallel}; the best samples/s wins. That best layout is
then measured again in every run, next to the server's measurements, so that each ratio
compares numbers taken under the same machine conditions. One forward at batch 1, with
the threads the model is configured (and served) with, is the other in-process reference:
what a single request costs when nothing but the model runs.
"""

import json
import subprocess
from pathlib import Path
from typing import Dict, List

from .procs import BenchError, log

LAYOUTS = ((1, 1), (2, 1), (1, 2))  # (intra-op threads, parallel forwarding threads)


def _run(limit: Path, repository: Path, model: str, batch_sizes: str, seconds: float,
         out: Path, threads: int = 0, parallel: int = 1) -> List[dict]:
    argv = [str(limit), "--model-repository", str(repository), "--model", model,
            "--batch-sizes", batch_sizes, "--seconds", str(seconds)]
    if threads > 0:
        argv += ["--threads", str(threads), "--parallel", str(parallel)]
    with open(out, "w") as stdout, open(out.with_suffix(".log"), "w") as stderr:
        code = subprocess.run(argv, stdout=stdout, stderr=stderr).returncode
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")]
    if code != 0 or not rows:
        raise BenchError(f"ferry_limit failed for {model} (exit {code}); see "
                         f"{out.with_suffix('.log')}:\n{out.with_suffix('.log').read_text()[-2000:]}")
    return rows


def sweep(limit: Path, repository: Path, model: str, batch_sizes: str, seconds: float,
          results: Path) -> Dict:
    """Every layout x batch size; returns {"rows": [...], "best": row}."""
    rows = []
    for threads, parallel in LAYOUTS:
        log(f"limit sweep: {model}, {threads} intra-op thread(s) x {parallel} parallel, "
            f"batch sizes {batch_sizes}")
        rows += _run(limit, repository, model, batch_sizes, seconds,
                     results / f"limit_sweep_{model}_{threads}x{parallel}.jsonl",
                     threads, parallel)
    best = max(rows, key=lambda r: r["samples_per_sec"])
    log(f"best in-process layout for {model}: batch {best['batch_size']}, "
        f"{best['threads']} thread(s) x {best['parallel']} parallel, "
        f"{best['samples_per_sec']:,.0f} samples/s")
    return {"rows": rows, "best": best}


def measure_best(limit: Path, repository: Path, model: str, best: dict, seconds: float,
                 results: Path, run: int) -> float:
    """The sweep's best configuration again: samples/s."""
    rows = _run(limit, repository, model, str(best["batch_size"]), seconds,
                results / f"limit_best_{model}_{run}.jsonl", best["threads"], best["parallel"])
    return rows[0]["samples_per_sec"]


def forward_batch1(limit: Path, repository: Path, model: str, seconds: float, results: Path,
                   run: int) -> dict:
    """One forward at batch 1 with the model's configured threads: its JSON row."""
    return _run(limit, repository, model, "1", seconds,
                results / f"forward_b1_{model}_{run}.jsonl")[0]
