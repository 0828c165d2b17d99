"""Load with `ferry bench` (src/loadgen), against Ferry or the peer, and the records kept
from it.

A record is one measured load point of one configuration in one run:
    {"run", "server": "ferry" | "peer", "config": "ferry" | "1x2" (peer workers x threads),
     "model", "protocol", "mode": "concurrency" | "rate", "value",
     "ok", "errors", "rps", "p50", "p90", "p99", "max" (µs), "client_cpu_us",
     "client_cpu_percent", "avg_batch", "queue_us", "compute_us" (None when the server
     has no statistics), "offered_rps", "error_kinds", "warnings"}
A point that failed entirely (the tool exited without a report) is kept with ok = 0 and
"failure" saying why, so the report shows it instead of silently dropping it.
"""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from .procs import log

DATA = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


@dataclass
class Settings:
    ferry: Path
    warmup: float
    duration: float
    threads: int
    results: Path


def _record(m: dict, **fields) -> dict:
    lat = m.get("latency_us", {})
    server = m.get("server") or {}
    errors = m.get("errors", {})
    kinds = {k: v for k, v in errors.items()
             if k in ("connection", "timeout", "bad_response") and v}
    for family in ("http_status", "grpc_status"):
        for code, count in (errors.get(family) or {}).items():
            kinds[f"{'HTTP' if family == 'http_status' else 'gRPC'} {code}"] = count
    return dict(fields, mode=m["mode"], value=m["value"], ok=m.get("ok", 0),
                errors=errors.get("total", 0), rps=m.get("throughput_rps", 0.0),
                p50=lat.get("p50"), p90=lat.get("p90"), p99=lat.get("p99"), max=lat.get("max"),
                client_cpu_us=m.get("client_cpu_us_per_request"),
                client_cpu_percent=m.get("client_cpu_percent"),
                avg_batch=server.get("avg_batch"), queue_us=server.get("queue_us"),
                compute_us=server.get("compute_us"), offered_rps=m.get("offered_rps"),
                error_kinds=kinds, error_examples=errors.get("examples", []),
                warnings=m.get("warnings", []))


def run(settings: Settings, url: str, model: str, protocol: str, *, run_index: int,
        server: str, config: str, concurrency: Optional[List[int]] = None,
        rate: Optional[float] = None, duration: Optional[float] = None) -> List[dict]:
    """One `ferry bench` invocation (a sweep of concurrencies, or one rate); its records."""
    points = ",".join(str(c) for c in concurrency) if concurrency else f"{rate:.1f}"
    name = (f"{server}_{config}_{model}_{protocol}_"
            f"{'c' + points.replace(',', '-') if concurrency else 'r' + points}_{run_index}")
    out = settings.results / f"bench_{name}.json"
    argv = [str(settings.ferry), "bench", "--url", url, "--model", model, "--protocol", protocol,
            "--data", str(DATA), "--warmup-seconds", str(settings.warmup),
            "--duration-seconds", str(duration or settings.duration),
            "--threads", str(settings.threads), "--json", str(out)]
    argv += ["--concurrency", points] if concurrency else ["--rate", points]
    fields = dict(run=run_index, server=server, config=config, model=model, protocol=protocol)
    with open(settings.results / f"bench_{name}.txt", "w") as stdout:
        proc = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, text=True)
    (settings.results / f"bench_{name}.stderr").write_text(proc.stderr)
    report = None
    if out.exists():
        try:
            report = json.loads(out.read_text())
        except json.JSONDecodeError:
            report = None
    if report is None:
        # No report at all: the server was unreachable, the model unknown, or the tool broke.
        reason = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        log(f"  FAILED {name}: {reason}")
        values = concurrency or [rate]
        return [dict(fields, mode="concurrency" if concurrency else "rate", value=v, ok=0,
                     errors=0, rps=0.0, p50=None, p90=None, p99=None, max=None,
                     client_cpu_us=None, client_cpu_percent=None, avg_batch=None,
                     queue_us=None, compute_us=None, offered_rps=None, error_kinds={},
                     error_examples=[], warnings=[], failure=reason) for v in values]
    records = [_record(m, **fields) for m in report["measurements"]]
    for r in records:
        note = "" if not r["errors"] else f"  errors {r['errors']} {r['error_kinds']}"
        log(f"  {name} {r['mode']} {r['value']}: {r['rps']:,.0f} req/s, p50 "
            f"{_us(r['p50'])}, p99 {_us(r['p99'])}{note}")
    return records


def _us(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{v:,.0f} µs"
