"""docs/benchmarks.md from a run's results (bench/compare keeps them as results.json, so
`bench/compare --report-only` can rewrite the page without measuring again).

Every ratio pairs numbers of the same run (round), then takes the median over runs and
reports the min-max spread: absolute numbers drift on a shared machine, ratios hold.
"""

import os
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from .tables import (client_cpu_section, int8_section, limit_detail_section, micro_section,
                     open_loop_section, side_by_side_section, sweep_section)
from .stats import fmt_num, med, rec

MET, NOT_MET, NA = "met", "**not met**", "n/a"
# Above this share of CPU time taken by the hypervisor, the page says the run was disturbed.
STEAL_WARNING = 0.05


def open_loop_rate(records: List[dict], fraction: float) -> Tuple[Optional[float], Optional[str]]:
    """OPEN_FRACTION of the best peer configuration's median closed-loop rate on
    fashion_cnn (its best concurrency), and that configuration."""
    best_rate, best_config = None, None
    configs = sorted({r["config"] for r in records if r["server"] == "peer"})
    for config in configs:
        for c in (1, 32):
            rates = [r["rps"] for r in records if r["server"] == "peer" and r["config"] == config
                     and r["model"] == "fashion_cnn" and r["mode"] == "concurrency"
                     and r["value"] == c and r["ok"] > 0]
            if rates and (best_rate is None or med(rates) > best_rate):
                best_rate, best_config = med(rates), config
    return (None, None) if best_rate is None else (fraction * best_rate, best_config)


def best_peer(records: List[dict], model: str, c: int = 32) -> Optional[str]:
    """The peer configuration with the higher median throughput at concurrency c."""
    best, best_rps = None, -1.0
    for config in sorted({r["config"] for r in records if r["server"] == "peer"}):
        rates = [r["rps"] for r in rec(records, server="peer", config=config, model=model,
                                       mode="concurrency", value=c)]
        if rates and med(rates) > best_rps:
            best, best_rps = config, med(rates)
    return best


class Targets:
    """Each target: per-run values, their median and spread, and whether it is met."""

    def __init__(self, data: dict):
        self.data = data
        self.records = data["records"]
        self.runs = data["knobs"]["RUNS"]
        self.rows: List[dict] = []

    def ferry(self, model, protocol, c, field, run):
        r = rec(self.records, server="ferry", model=model, protocol=protocol,
                mode="concurrency", value=c, run=run)
        return _good(r, field)

    def peer(self, model, config, c, field, run):
        r = rec(self.records, server="peer", model=model, config=config, mode="concurrency",
                value=c, run=run)
        return _good(r, field)

    def limit(self, model, run):
        runs = self.data["limit"].get(model, {}).get("runs", [])
        return runs[run - 1] if run - 1 < len(runs) else None

    def forward(self, model, run):
        rows = self.data.get("forward_b1", {}).get(model, [])
        return rows[run - 1]["forward_p50_us"] if run - 1 < len(rows) else None

    def add(self, label: str, goal: str, per_run: Callable[[int], Optional[float]],
            ok: Callable[[float], bool], unit: str, why_na: str = "") -> None:
        values = [v for v in (per_run(run) for run in range(1, self.runs + 1)) if v is not None]
        row = {"label": label, "goal": goal, "values": values, "unit": unit}
        if values:
            row["median"] = med(values)
            row["result"] = MET if ok(row["median"]) else NOT_MET
        else:
            row["median"] = None
            row["result"] = NA
            row["why"] = why_na or "not measured; see the errors below"
        self.rows.append(row)

    def build(self) -> List[dict]:
        cnn, mlp = "fashion_cnn", "fashion_mlp"
        ratio = lambda a, b: None if a is None or not b else a / b
        for protocol, goal in (("http-json", 0.65), ("http-binary", 0.75), ("grpc", 0.80)):
            skipped = protocol not in self.data["knobs"]["PROTOCOLS"]
            self.add(f"fashion_cnn c32 Ferry {protocol} / in-process limit", f"≥ {goal:.0%}",
                     lambda run, p=protocol: ratio(self.ferry(cnn, p, 32, "rps", run),
                                                   self.limit(cnn, run)),
                     lambda m, g=goal: m >= g, "%",
                     f"{protocol} was left out of PROTOCOLS" if skipped else "")
        peer_cnn = best_peer(self.records, cnn)
        self.add(f"fashion_cnn c32 Ferry http-json / better peer ({peer_cnn} workers x threads)",
                 "≥ 5x", lambda run: ratio(self.ferry(cnn, "http-json", 32, "rps", run),
                                           self.peer(cnn, peer_cnn, 32, "rps", run)),
                 lambda m: m >= 5, "x")
        open_peer = self.data.get("open_peer")
        rate = self.data.get("open_rate")
        self.add(f"fashion_cnn open loop at {fmt_num(rate)} req/s: Ferry http-json p99 / peer "
                 f"({open_peer}) p99", "≤ 1/4 (25%)",
                 lambda run: ratio(self._open(cnn, "ferry", "ferry", "http-json", "p99", run),
                                   self._open(cnn, "peer", open_peer, "http-json", "p99", run)),
                 lambda m: m <= 0.25, "%", "open loop not measured")
        self.add("fashion_cnn c1 Ferry grpc p50 − in-process forward at batch 1",
                 "≤ 100 µs", lambda run: _diff(self.ferry(cnn, "grpc", 1, "p50", run),
                                               self.forward(cnn, run)),
                 lambda m: m <= 100, "µs")
        peer_mlp = best_peer(self.records, mlp)
        self.add(f"fashion_mlp c32 Ferry http-json / better peer ({peer_mlp})", "≥ 20x",
                 lambda run: ratio(self.ferry(mlp, "http-json", 32, "rps", run),
                                   self.peer(mlp, peer_mlp, 32, "rps", run)),
                 lambda m: m >= 20, "x")
        return self.rows

    def serving_core(self) -> List[dict]:
        """The serving core's first targets (c1 and c32 http-json against the limit)."""
        self.rows = []
        cnn = "fashion_cnn"
        self.add("c32 http-json throughput / limit", "≥ 50%",
                 lambda run: (lambda a, b: None if a is None or not b else a / b)(
                     self.ferry(cnn, "http-json", 32, "rps", run), self.limit(cnn, run)),
                 lambda m: m >= 0.5, "%")
        self.add("c1 http-json p50 − in-process forward at batch 1", "≤ 200 µs",
                 lambda run: _diff(self.ferry(cnn, "http-json", 1, "p50", run),
                                   self.forward(cnn, run)),
                 lambda m: m <= 200, "µs")
        return self.rows

    def _open(self, model, server, config, protocol, field, run):
        r = rec(self.records, server=server, config=config, model=model, protocol=protocol,
                mode="rate", run=run)
        return _good(r, field)


def _good(records: List[dict], field: str) -> Optional[float]:
    """The field of the one matching record, unless it failed or had errors."""
    if len(records) != 1:
        return None
    r = records[0]
    if r["ok"] == 0 or r["errors"] > 0 or r.get(field) is None:
        return None
    return r[field]


def _diff(a, b):
    return None if a is None or b is None else a - b


def format_value(v: Optional[float], unit: str) -> str:
    if v is None:
        return NA
    if unit == "%":
        return f"{v:.0%}"
    if unit == "x":
        return f"{v:.1f}x"
    return f"{v:,.0f} µs"


def targets_table(rows: List[dict]) -> List[str]:
    out = ["| target | median | spread (min–max) | goal | result |", "|---|---:|---:|---|---|"]
    for r in rows:
        values = r["values"]
        sp = (f"{format_value(min(values), r['unit'])} – {format_value(max(values), r['unit'])}"
              if len(values) > 1 else "")
        result = r["result"] + (f" ({r['why']})" if r["result"] == NA else "")
        out.append(f"| {r['label']} | **{format_value(r['median'], r['unit'])}** | {sp} | "
                   f"{r['goal']} | {result} |")
    return out


KEPT_BEGIN = "<!-- kept by bench/compare: begin"
KEPT_END = "<!-- kept by bench/compare: end -->"


def kept_sections(out: Path) -> List[str]:
    """Sections another script wrote into `out` between KEPT_BEGIN ... --> and KEPT_END
    (e.g. bench/shm_compare's "Shared memory"): carried over unchanged, since this run
    did not measure them."""
    if not out.is_file():
        return []
    text, kept, pos = out.read_text(), [], 0
    while (start := text.find(KEPT_BEGIN, pos)) != -1:
        end = text.find(KEPT_END, start)
        if end == -1:
            break
        kept += ["", text[start:end + len(KEPT_END)]]
        pos = end + len(KEPT_END)
    return kept


def render(data: dict, out: Path, plot_path: Path, plot_note: Optional[str]) -> str:
    k, m = data["knobs"], data["machine"]
    lines: List[str] = []
    w = lines.append
    w("# Benchmarks")
    w("")
    w("Generated by `bench/compare`; do not edit by hand. Everything below was measured in one run")
    w("on one machine, interleaved round by round, so compare the ratios, not the absolute numbers")
    w("(DESIGN.md, \"How performance is measured\"). Medians of "
      f"{k['RUNS']} run(s); spreads are min–max over the runs.")
    w("")
    cores = m.get("cores", 1)
    if float(data["loadavg_start"][0]) > 0.5 * cores or k.get("SMOKE"):
        w(f"> **Warning:** {'a smoke run (SMOKE=1): too short to mean anything. ' if k.get('SMOKE') else ''}"
          f"Load average {data['loadavg_start'][0]} at the start on {cores} cores"
          f"{': other work was running' if float(data['loadavg_start'][0]) > 0.5 * cores else ''}."
          " Run again on a quiet machine before trusting these numbers.")
        w("")
    steal = data.get("steal")
    if steal is not None and steal > STEAL_WARNING:
        w(f"> **Warning:** the hypervisor took {steal:.0%} of this machine's CPU time during the"
          " run (steal time in /proc/stat): the cores ran less than the load average says."
          " Compare ratios only, and run again when it is lower.")
        w("")
    w("## Targets")
    w("")
    w("Each ratio is taken within a run, then the median over runs; fashion_cnn unless named.")
    w("")
    targets = Targets(data)
    lines += targets_table(targets.build())
    w("")
    failures = [r for r in data["records"] if r.get("failure") or r["errors"] > 0]
    if failures:
        w("Errors during measurement (a point with errors counts as not measured above):")
        w("")
        for r in failures[:12]:
            what = r.get("failure") or ", ".join(f"{k2}: {v}" for k2, v in r["error_kinds"].items())
            example = f" — e.g. {r['error_examples'][0]}" if r.get("error_examples") else ""
            w(f"- run {r['run']}, {r['server']} {r['config']} {r['model']} {r['protocol']} "
              f"{r['mode']} {r['value']}: {what}{example}")
        w("")
    w("## Machine")
    w("")
    w(f"- CPU: {m['cpu']}, {cores} cores available; load average {' '.join(data['loadavg_start'])}"
      f" at the start, {' '.join(data.get('loadavg_end', ['?']))} at the end (the benchmark's own)"
      + (f"; CPU time stolen by the hypervisor during the run: {data['steal']:.1%}"
         if data.get("steal") is not None else ""))
    w(f"- Memory: {m['memory_gib']} GiB; OS: {m['os']} (debian_version {m['debian']}), "
      f"kernel {m['kernel']}")
    openblas = f"OpenBLAS (pthread) {m['openblas'] or 'not installed'}"
    ferry_gemm = f"BLIS (serial) {m.get('blis') or '?'}" if m.get("ferry_blis") else openblas
    ferry_malloc = (f"tcmalloc {m.get('tcmalloc') or '?'}" if m.get("ferry_tcmalloc")
                    else "glibc's")
    w(f"- libtorch {m['libtorch']}; Ferry's BLAS: {ferry_gemm}; the peer's: {openblas}; "
      f"Ferry's malloc: {ferry_malloc}, the peer's: glibc's; gRPC {m['grpc']}")
    w(f"- Peer: {m['peer']}; uvloop + httptools {'installed' if m['uvloop'] else 'not installed'}")
    server = data.get("ferry_server", {})
    w(f"- Ferry {server.get('version', '?')} at git {m['git']}"
      f"{' (+ uncommitted changes)' if m['dirty'] else ''}; build dir `{m['build_dir']}`; "
      f"extensions: {', '.join(server.get('extensions', []))}")
    w(f"- Run {data['started']} – {data.get('finished', '?')} (UTC); raw outputs in "
      f"`{data['results']}` (not committed)")
    w("")
    w("## Command")
    w("")
    w("```sh")
    w(data["command"])
    w("```")
    w("")
    w(f"Settings: {k['RUNS']} run(s); closed loop {k['WARMUP']:g} s warm-up + {k['DURATION']:g} s "
      f"per point; open loop {k['OPEN_DURATION']:g} s; limit {k['LIMIT_SECONDS']:g} s per "
      f"measurement; `ferry bench --threads {k['CLIENT_THREADS']}` sending real Fashion-MNIST "
      "test images (`--data t10k-images-idx3-ubyte.gz`). One `ferry serve --model-repository "
      "models` serves every model (gRPC and HTTP, the models' own `config.toml`); each peer is "
      "`bench/peers/fastapi_peer.py --workers W --threads T` serving one model. Client and "
      "servers share the same cores; latency is measured by the client.")
    w("")
    for model in ("fashion_cnn", "fashion_mlp"):
        lines += side_by_side_section(data, model, best_peer(data["records"], model))
    lines += open_loop_section(data)
    lines += sweep_section(data, os.path.relpath(plot_path, out.parent), plot_note)
    lines += int8_section(data)
    lines += client_cpu_section(data)
    lines += micro_section(data)
    w("## Serving core: c1 and c32 over HTTP/JSON against the limit")
    w("")
    w("The first targets of the serving core, kept so that progress stays visible.")
    w("")
    lines += targets_table(targets.serving_core())
    w("")
    lines += limit_detail_section(data)
    lines += kept_sections(out)
    return "\n".join(lines) + "\n"


def summary(text: str) -> str:
    """The targets table, for the terminal."""
    start = text.index("## Targets")
    end = text.index("## Machine")
    return text[start:end].rstrip()
