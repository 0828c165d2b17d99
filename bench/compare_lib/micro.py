"""Google Benchmark microbenchmarks: what one request costs the server's CPU in each
step Ferry adds around the model (decode, batch, split, encode)."""

import json
import statistics
import subprocess
from pathlib import Path
from typing import Dict, List

from .procs import BenchError, log

# Binary -> what it measures, for the report.
BINARIES = {
    "codec_bench": "REST codec",
    "grpc_codec_bench": "gRPC codec",
    "batch_bench": "batching",
}


def run(build: Path, min_time: float, repetitions: int, results: Path) -> Dict[str, List[dict]]:
    """{binary: [{"name", "cpu_ns" (median of the repetitions), "min_ns", "max_ns",
    "items" (requests per iteration, 1 unless the benchmark says)}]}"""
    out = {}
    for binary in BINARIES:
        path = build / binary
        json_path = results / f"micro_{binary}.json"
        log(f"microbenchmarks: {binary}")
        argv = [str(path), f"--benchmark_min_time={min_time}",
                f"--benchmark_repetitions={repetitions}", "--benchmark_format=json",
                f"--benchmark_out={json_path}", "--benchmark_out_format=json"]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0 or not json_path.exists():
            raise BenchError(f"{binary} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        out[binary] = summarize(json.loads(json_path.read_text()))
    return out


def summarize(report: dict) -> List[dict]:
    runs: Dict[str, List[dict]] = {}
    for b in report["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
            continue
        runs.setdefault(b["run_name"] if "run_name" in b else b["name"], []).append(b)
    rows = []
    for name, reps in runs.items():
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[reps[0].get("time_unit", "ns")]
        cpu = [r["cpu_time"] * scale for r in reps]
        # items_per_second / iterations-per-second = requests per iteration.
        items = 1.0
        if reps[0].get("items_per_second") and reps[0].get("cpu_time"):
            items = reps[0]["items_per_second"] * reps[0]["cpu_time"] * scale / 1e9
        rows.append({"name": name, "cpu_ns": statistics.median(cpu), "min_ns": min(cpu),
                     "max_ns": max(cpu), "items": round(items)})
    return rows
