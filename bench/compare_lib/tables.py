"""The detail sections of docs/benchmarks.md, one function per section, each returning
markdown lines. Numbers are medians over runs, with the min-max spread where it helps."""

import json
from pathlib import Path
from typing import List, Optional

from .stats import fmt_num, good, med, rec, spread, values

ROOT = Path(__file__).resolve().parent.parent.parent


def _per_run_ratio(records: List[dict], baseline) -> List[float]:
    """rps / baseline(run) for each good record whose run has a baseline."""
    out = []
    for r in records:
        b = baseline(r["run"])
        if good(r) and b:
            out.append(r["rps"] / b)
    return out


def _limit(data: dict, model: str, run: int) -> Optional[float]:
    runs = data["limit"].get(model, {}).get("runs", [])
    return runs[run - 1] if 0 < run <= len(runs) else None


def _errors(records: List[dict]) -> str:
    failed = [r for r in records if r.get("failure")]
    errors = sum(r["errors"] for r in records)
    if failed:
        return f"failed ×{len(failed)}"
    return f"{errors:,}" if errors else "0"


def side_by_side_section(data: dict, model: str, peer_best: Optional[str]) -> List[str]:
    records, k = data["records"], data["knobs"]
    limit = data["limit"].get(model, {})
    best = limit.get("best")
    out = [f"## {model}: Ferry, the limit and the peer side by side", ""]
    if best:
        lim = limit.get("runs", [])
        fwd = [r["forward_p50_us"] for r in data.get("forward_b1", {}).get(model, [])]
        lim_spread = f"{spread(lim)}; " if spread(lim) else ""
        fwd_spread = f" ({spread(fwd)})" if spread(fwd) else ""
        out.append(f"In-process limit: **{fmt_num(med(lim))} samples/s** ({lim_spread}batch "
                   f"{best['batch_size']}, {best['threads']} intra-op thread(s) × "
                   f"{best['parallel']} in parallel). One in-process forward at batch 1: "
                   f"**{fmt_num(med(fwd))} µs** p50{fwd_spread}.")
        out.append("")
    out.append("| server | protocol | load | req/s | spread | p50 µs | p90 µs | p99 µs | "
               "vs limit | vs better peer | client CPU µs/req | server batch | errors |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def peer_rps(run: int, c: int) -> Optional[float]:
        r = rec(records, server="peer", config=peer_best, model=model, mode="concurrency",
                value=c, run=run)
        return r[0]["rps"] if len(r) == 1 and good(r[0]) else None

    rows = [("Ferry", p, "ferry") for p in k["PROTOCOLS"]]
    rows += [(f"peer {c}", "http-json", c) for c in sorted(
        {r["config"] for r in records if r["server"] == "peer" and r["model"] == model})]
    for label, protocol, config in rows:
        server = "ferry" if config == "ferry" else "peer"
        for c in (1, 32):
            rs = rec(records, server=server, config=config, model=model, protocol=protocol,
                     mode="concurrency", value=c)
            if not rs:
                continue
            rps = values(rs, "rps")
            vs_limit = _per_run_ratio(rs, lambda run: _limit(data, model, run))
            vs_peer = _per_run_ratio(rs, lambda run, c=c: peer_rps(run, c))
            batch = med(values(rs, "avg_batch"))
            out.append(
                f"| {label} | {protocol} | c{c} | {fmt_num(med(rps))} | {spread(rps)} | "
                f"{fmt_num(med(values(rs, 'p50')))} | {fmt_num(med(values(rs, 'p90')))} | "
                f"{fmt_num(med(values(rs, 'p99')))} | {fmt_num(med(vs_limit), '{:.0%}')} | "
                f"{fmt_num(med(vs_peer), '{:.1f}x')} | "
                f"{fmt_num(med(values(rs, 'client_cpu_us')), '{:.1f}')} | "
                f"{fmt_num(batch, '{:.1f}')} | {_errors(rs)} |")
    out += ["", f"\"vs better peer\" divides by the peer configuration with the higher c32 "
                f"throughput ({peer_best} = workers × torch threads) at the same concurrency, "
                "run by run. \"server batch\" is the mean batch Ferry's scheduler formed "
                "(statistics extension); the peer never batches across requests.", ""]
    return out


def open_loop_section(data: dict) -> List[str]:
    records = [r for r in data["records"] if r["mode"] == "rate"]
    if not records:
        return []
    rate = data.get("open_rate")
    out = ["## Open loop: latency at a fixed rate", "",
           f"Poisson arrivals at **{fmt_num(rate)} req/s** = {data['knobs']['OPEN_FRACTION']:.0%} "
           f"of the best closed-loop rate of the peer (configuration {data.get('open_peer')}) on "
           "fashion_cnn; latency runs from each request's scheduled time, so queueing shows.", "",
           "| server | protocol | offered req/s | achieved req/s | p50 µs | p90 µs | p99 µs | "
           "max µs | errors |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    seen = []
    for r in records:
        key = (r["server"], r["config"], r["protocol"])
        if key not in seen:
            seen.append(key)
    for server, config, protocol in seen:
        rs = rec(records, server=server, config=config, protocol=protocol)
        label = "Ferry" if server == "ferry" else f"peer {config}"
        p99_spread = f" ({spread(values(rs, 'p99'))})" if spread(values(rs, "p99")) else ""
        out.append(f"| {label} | {protocol} | {fmt_num(med(values(rs, 'offered_rps')))} | "
                   f"{fmt_num(med(values(rs, 'rps')))} | {fmt_num(med(values(rs, 'p50')))} | "
                   f"{fmt_num(med(values(rs, 'p90')))} | {fmt_num(med(values(rs, 'p99')))}"
                   f"{p99_spread} | {fmt_num(med(values(rs, 'max')))} | "
                   f"{_errors(rs)} |")
    warnings = sorted({w for r in records for w in r.get("warnings", [])})
    out.append("")
    for w in warnings[:6]:
        out.append(f"- {w}")
    if warnings:
        out.append("")
    return out


def sweep_section(data: dict, plot_rel: str, plot_note: Optional[str]) -> List[str]:
    records, k = data["records"], data["knobs"]
    out = ["## fashion_cnn: p99 latency against throughput", ""]
    if plot_note is None:
        out += [f"![p99 latency against throughput]({plot_rel})", ""]
    else:
        out += [f"(No plot: {plot_note}.)", ""]
    out += ["Closed loop swept over concurrency (medians over runs); the peer at c1 and c32. "
            "Each cell: req/s / p50 µs / p99 µs.", ""]
    header = "| concurrency | " + " | ".join(f"Ferry {p}" for p in k["PROTOCOLS"]) + " |"
    out += [header, "|---:|" + "---:|" * len(k["PROTOCOLS"])]
    for c in k["SWEEP"]:
        cells = []
        for p in k["PROTOCOLS"]:
            rs = rec(records, server="ferry", model="fashion_cnn", protocol=p,
                     mode="concurrency", value=c)
            cells.append(f"{fmt_num(med(values(rs, 'rps')))} / {fmt_num(med(values(rs, 'p50')))}"
                         f" / {fmt_num(med(values(rs, 'p99')))}")
        out.append(f"| {c} | " + " | ".join(cells) + " |")
    out.append("")
    return out


def _lineage(model: str) -> dict:
    try:
        return json.loads((ROOT / "models" / model / "1" / "lineage.json").read_text())
    except (OSError, ValueError):
        return {}


def int8_section(data: dict) -> List[str]:
    records, k = data["records"], data["knobs"]
    protocol = k.get("INT8_PROTOCOL", "grpc")
    pairs = [("fashion_cnn", "fashion_cnn_int8"), ("fashion_mlp", "fashion_mlp_int8")]
    if not any(rec(records, model=m) for _, m in pairs):
        return []
    out = ["## int8 against fp32", "",
           f"The dynamic-int8 models next to their fp32 sources, served by the same Ferry over "
           f"{protocol} (`--quantized-engine onednn`, Ferry's default). Accuracy is on the "
           "10,000 Fashion-MNIST test images, from each model's `1/lineage.json`.", "",
           "| model | size on disk | test accuracy | c1 p50 µs | c1 p99 µs | c32 req/s | "
           "c32 p99 µs | errors |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for fp32, int8 in pairs:
        for model in (fp32, int8):
            path = ROOT / "models" / model / "1" / "model.pt"
            size = path.stat().st_size if path.exists() else None
            acc = _lineage(model).get("metrics", {}).get("test_accuracy")
            c1 = rec(records, server="ferry", model=model, protocol=protocol,
                     mode="concurrency", value=1)
            c32 = rec(records, server="ferry", model=model, protocol=protocol,
                      mode="concurrency", value=32)
            out.append(f"| {model} | {fmt_num(size / 1024 if size else None, '{:,.0f} KiB')} | "
                       f"{fmt_num(acc * 100 if acc else None, '{:.2f}%')} | "
                       f"{fmt_num(med(values(c1, 'p50')))} | {fmt_num(med(values(c1, 'p99')))} | "
                       f"{fmt_num(med(values(c32, 'rps')))} | "
                       f"{fmt_num(med(values(c32, 'p99')))} | {_errors(c1 + c32)} |")
    out.append("")
    return out


def client_cpu_section(data: dict) -> List[str]:
    records, k = data["records"], data["knobs"]
    out = ["## What the load generator costs", "",
           "`ferry bench` reports its own CPU: `getrusage(RUSAGE_SELF)` user + system time over "
           "the measurement window divided by the requests measured, for the whole client "
           "process (gRPC's poller thread included). Client and server share the cores, so this "
           "is CPU the server did not get. fashion_cnn, medians over runs.", "",
           "| target | protocol | c1 µs/req | c1 % of a core | c32 µs/req | c32 % of a core |",
           "|---|---|---:|---:|---:|---:|"]
    rows = [("Ferry", "ferry", p) for p in k["PROTOCOLS"]]
    rows += [(f"peer {c}", c, "http-json") for c in sorted(
        {r["config"] for r in records if r["server"] == "peer"})]
    for label, config, protocol in rows:
        cells = []
        for c in (1, 32):
            rs = rec(records, config=config, model="fashion_cnn", protocol=protocol,
                     mode="concurrency", value=c)
            cells += [fmt_num(med(values(rs, "client_cpu_us")), "{:.1f}"),
                      fmt_num(med(values(rs, "client_cpu_percent")), "{:.0f}%")]
        out.append(f"| {label} | {protocol} | " + " | ".join(cells) + " |")
    out.append("")
    return out


def micro_section(data: dict) -> List[str]:
    from .micro import BINARIES
    micro = data.get("micro") or {}
    if not micro:
        return []
    out = ["## Microbenchmarks: server CPU per request", "",
           "Google Benchmark (bench/codec_bench.cc, bench/grpc_codec_bench.cc, "
           "bench/batch_bench.cc), CPU time per iteration (median of 3 repetitions, min–max); for the "
           "batching steps one iteration handles a whole batch, so the last column divides by it.",
           "", "| benchmark | what | CPU per iteration | spread | per request |",
           "|---|---|---:|---:|---:|"]
    for binary, rows in micro.items():
        for r in rows:
            per_request = r["cpu_ns"] / max(r["items"], 1)
            out.append(f"| `{r['name']}` | {BINARIES.get(binary, binary)} | "
                       f"{_ns(r['cpu_ns'])} | {_ns(r['min_ns'])}–{_ns(r['max_ns'])} | "
                       f"{_ns(per_request)} |")
    out.append("")
    return out


def _ns(ns: float) -> str:
    return f"{ns / 1000:,.2f} µs" if ns >= 1000 else f"{ns:,.0f} ns"


def limit_detail_section(data: dict) -> List[str]:
    out = ["## The limit in detail", "",
           "`ferry_limit` (bench/limit.cc) loads each model through Ferry's backend (frozen + "
           "optimized, warmed up) and forwards random 0..255 images; `parallel` threads forward "
           "at once, each prepared like a server worker. samples/s counts images. The best row "
           "is re-measured in every run (the limit above).", ""]
    for model, limit in data["limit"].items():
        best = limit.get("best")
        out += [f"### {model}", "", "| threads × parallel | batch | samples/s | forward p50 µs | "
                "forward mean µs | µs per sample |", "|---|---:|---:|---:|---:|---:|"]
        for r in limit.get("rows", []):
            mark = " **best**" if r == best else ""
            out.append(f"| {r['threads']} × {r['parallel']} | {r['batch_size']} | "
                       f"{r['samples_per_sec']:,.0f}{mark} | {r['forward_p50_us']:.0f} | "
                       f"{r['forward_mean_us']:.0f} | "
                       f"{r['forward_mean_us'] / r['batch_size']:.0f} |")
        runs = limit.get("runs", [])
        fwd = [r["forward_p50_us"] for r in data.get("forward_b1", {}).get(model, [])]
        out += ["", "| run | " + " | ".join(f"#{i}" for i in range(1, len(runs) + 1)) + " |",
                "|---|" + "---:|" * len(runs),
                "| limit (samples/s) | " + " | ".join(f"{v:,.0f}" for v in runs) + " |",
                "| forward b1 p50 (µs) | " + " | ".join(f"{v:.0f}" for v in fwd) + " |", ""]
    return out
