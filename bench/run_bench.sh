#!/usr/bin/env bash
# Ferry benchmark, one command, everything measured in the same run on the same machine:
#
#   1. the in-process limit: ferry_limit forwards fashion_cnn through Ferry's own backend
#      with no server around it, swept over batch sizes and thread layouts
#      {1 thread x 1, 2 threads x 1, 1 thread x 2 parallel}; the best configuration wins;
#   2. then RUNS times, back to back: the limit (that best configuration), one in-process
#      forward at batch 1 (p50, with the model's configured threads), and `ferry serve`
#      under wrk (bench/infer.lua POSTs a real Fashion-MNIST test image) at concurrency 1
#      (wrk -t1 -c1) and 32 (wrk -t2 -c32), after one warm-up of each;
#   3. writes docs/benchmarks.md: machine, command, medians and spreads, per-run ratios to
#      the limit, and the server's own batch-size histogram (did batching happen?).
#
# Usage (from anywhere; assumes build/ is built: cmake --build build --target ferry ferry_limit):
#   bench/run_bench.sh
# Knobs (environment): BUILD_DIR=build MODEL=fashion_cnn RUNS=3 DURATION=10 WARMUP=3
#   LIMIT_SECONDS=3 BATCH_SIZES=1,8,16,32,64 BODY=examples/infer_cnn_1.json OUT=docs/benchmarks.md
# Raw outputs go to bench/results/<UTC timestamp>/ (not committed).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=/usr/bin/python3
BUILD_DIR=${BUILD_DIR:-build}
MODEL=${MODEL:-fashion_cnn}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
LIMIT_SECONDS=${LIMIT_SECONDS:-3}
BATCH_SIZES=${BATCH_SIZES:-1,8,16,32,64}
BODY=${BODY:-examples/infer_cnn_1.json}
OUT=${OUT:-docs/benchmarks.md}
LAYOUTS=("1x1" "2x1" "1x2")   # intra-op threads x parallel forwarding threads

FERRY="$BUILD_DIR/ferry"
LIMIT="$BUILD_DIR/ferry_limit"
for bin in "$FERRY" "$LIMIT"; do
  [[ -x "$bin" ]] || { echo "run_bench: $bin not found; build it first (cmake --build $BUILD_DIR)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "run_bench: wrk not installed (apt-get install wrk)" >&2; exit 1; }
[[ -f "models/$MODEL/config.toml" ]] || { echo "run_bench: models/$MODEL missing" >&2; exit 1; }

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS="bench/results/$STAMP"
mkdir -p "$RESULTS"
COMMAND="RUNS=$RUNS DURATION=$DURATION WARMUP=$WARMUP LIMIT_SECONDS=$LIMIT_SECONDS BATCH_SIZES=$BATCH_SIZES MODEL=$MODEL bench/run_bench.sh"
echo "$COMMAND" > "$RESULTS/command.txt"
cat /proc/loadavg > "$RESULTS/loadavg_start.txt"
log() { echo "[run_bench $(date +%H:%M:%S)] $*" >&2; }

# ---- the request body: a real test image ----------------------------------------------
if [[ ! -f "$BODY" ]]; then
  log "$BODY missing; building one from the Fashion-MNIST test set"
  BODY="$RESULTS/body.json"
  "$PY" - "$BODY" <<'PY'
import gzip, json, sys
import numpy as np
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", "rb") as fh:
    raw = fh.read()
image = np.frombuffer(raw, dtype=np.uint8, offset=16, count=784).astype(float)
json.dump({"id": "bench", "inputs": [{"name": "image", "shape": [1, 1, 28, 28], "datatype": "FP32",
                                      "data": image.tolist()}]}, open(sys.argv[1], "w"))
PY
fi
cp "$BODY" "$RESULTS/request.json"

# ---- 1: the in-process limit, swept over thread layouts and batch sizes -------------------
for layout in "${LAYOUTS[@]}"; do
  threads=${layout%x*}
  parallel=${layout#*x}
  log "limit sweep: $MODEL, $threads intra-op thread(s) x $parallel parallel, batch sizes $BATCH_SIZES"
  "$LIMIT" --model-repository models --model "$MODEL" --batch-sizes "$BATCH_SIZES" \
    --seconds "$LIMIT_SECONDS" --threads "$threads" --parallel "$parallel" \
    > "$RESULTS/limit_sweep_${layout}.jsonl" 2> "$RESULTS/limit_sweep_${layout}.log"
done
# The best configuration is measured again in every run below, next to the server's runs,
# so that each ratio compares numbers taken under the same machine conditions.
read -r BEST_THREADS BEST_PARALLEL BEST_BATCH < <(cat "$RESULTS"/limit_sweep_*.jsonl | "$PY" -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
b = max(rows, key=lambda r: r["samples_per_sec"])
print(b["threads"], b["parallel"], b["batch_size"])')
log "best in-process layout: batch $BEST_BATCH, $BEST_THREADS thread(s) x $BEST_PARALLEL parallel"
measure_limit() {  # run
  "$LIMIT" --model-repository models --model "$MODEL" --batch-sizes "$BEST_BATCH" --seconds "$LIMIT_SECONDS" \
    --threads "$BEST_THREADS" --parallel "$BEST_PARALLEL" > "$RESULTS/limit_best_$1.jsonl" 2> "$RESULTS/limit_best_$1.log"
  # ---- 2: one forward at batch 1, with the threads the model is configured (and served) with
  "$LIMIT" --model-repository models --model "$MODEL" --batch-sizes 1 --seconds "$LIMIT_SECONDS" \
    > "$RESULTS/forward_b1_$1.jsonl" 2> "$RESULTS/forward_b1_$1.log"
}

# ---- 2: the server under wrk, interleaved with the limit --------------------------------------------------------------
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

log "starting $FERRY serve --model-repository models"
"$FERRY" serve --model-repository models --http-port 0 --host 127.0.0.1 > "$RESULTS/server.log" 2>&1 &
SERVER_PID=$!
PORT=""
for _ in $(seq 1 1200); do
  PORT=$(grep -o 'listening on http://[^ ]*' "$RESULTS/server.log" | head -1 | sed -E 's/.*:([0-9]+).*/\1/' || true)
  [[ -n "$PORT" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "run_bench: server exited; see $RESULTS/server.log" >&2; tail -20 "$RESULTS/server.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$PORT" ]] || { echo "run_bench: server did not start within 120 s" >&2; exit 1; }
BASE="http://127.0.0.1:$PORT"
URL="$BASE/v2/models/$MODEL/infer"
curl_get() { "$PY" -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())' "$1"; }
curl_get "$BASE/v2" > "$RESULTS/server_metadata.json"
"$PY" -c 'import sys, json, urllib.request
r = urllib.request.Request(sys.argv[1], data=open(sys.argv[2], "rb").read(), headers={"Content-Type": "application/json"})
body = json.loads(urllib.request.urlopen(r, timeout=30).read())
assert body["outputs"][0]["shape"][0] == 1, body' "$URL" "$BODY"

export FERRY_BENCH_BODY="$BODY"
run_wrk() {  # name threads connections seconds
  local name=$1 t=$2 c=$3 d=$4
  curl_get "$BASE/metrics" > "$RESULTS/metrics_before_$name.txt"
  wrk -t"$t" -c"$c" -d"${d}s" --latency -s bench/infer.lua "$URL" > "$RESULTS/wrk_$name.txt" 2>&1
  curl_get "$BASE/metrics" > "$RESULTS/metrics_after_$name.txt"
  grep -h '^non-200' "$RESULTS/wrk_$name.txt" | sed "s/^/  $name: /" >&2 || true
}
log "warm-up: c32 and c1, ${WARMUP}s each"
run_wrk warmup_c32 2 32 "$WARMUP"
run_wrk warmup_c1 1 1 "$WARMUP"
for run in $(seq 1 "$RUNS"); do
  log "run $run/$RUNS: in-process limit and batch-1 forward, ${LIMIT_SECONDS}s each"
  measure_limit "$run"
  log "run $run/$RUNS: c1 ${DURATION}s"
  run_wrk "c1_$run" 1 1 "$DURATION"
  log "run $run/$RUNS: c32 ${DURATION}s"
  run_wrk "c32_$run" 2 32 "$DURATION"
done
curl_get "$BASE/metrics" > "$RESULTS/metrics_final.txt"
log "stopping the server (SIGTERM)"
kill -TERM "$SERVER_PID"
SERVER_EXIT=0
wait "$SERVER_PID" || SERVER_EXIT=$?
SERVER_PID=""
echo "$SERVER_EXIT" > "$RESULTS/server_exit.txt"
cat /proc/loadavg > "$RESULTS/loadavg_end.txt"

# ---- 3: the report --------------------------------------------------------------------------
"$PY" - "$RESULTS" "$OUT" "$MODEL" "$RUNS" <<'PY'
import json, os, re, statistics, subprocess, sys
from pathlib import Path

results, out, model, runs = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:
        return ""

def jsonl(path):
    return [json.loads(l) for l in path.read_text().splitlines() if l.startswith("{")]

def wrk(name):
    text = (results / f"wrk_{name}.txt").read_text()
    m = re.search(r"^FERRY_WRK (.*)$", text, re.M)
    if not m:
        sys.exit(f"no FERRY_WRK line in wrk_{name}.txt:\n{text}")
    return json.loads(m.group(1))

def metrics(path):
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            try:
                values[key] = float(value)
            except ValueError:
                pass
    return values

def series(values, name, **labels):
    total, found = 0.0, False
    for key, v in values.items():
        base, _, rest = key.partition("{")
        if base == name and all(f'{k}="{x}"' in rest for k, x in labels.items()):
            total += v
            found = True
    return total if found else None

def batch_stats(name):
    """Mean batch size and rows per bucket of the server's batch-size histogram during a run."""
    before = metrics(results / f"metrics_before_{name}.txt")
    after = metrics(results / f"metrics_after_{name}.txt")
    d = lambda n, **l: (series(after, n, model=model, **l) or 0) - (series(before, n, model=model, **l) or 0)
    count, total = d("ferry_batch_size_count"), d("ferry_batch_size_sum")
    buckets = {}
    for key in after:
        if key.startswith("ferry_batch_size_bucket{") and f'model="{model}"' in key:
            le = re.search(r'le="([^"]+)"', key).group(1)
            buckets[le] = d("ferry_batch_size_bucket", le=le)
    return (total / count if count else None), count, buckets

def med(values):
    return statistics.median(values)

def spread(values, fmt="{:.0f}"):
    return f"{fmt.format(min(values))}–{fmt.format(max(values))}"

# --- limit
limit_rows = []
for layout in ("1x1", "2x1", "1x2"):
    p = results / f"limit_sweep_{layout}.jsonl"
    if p.exists():
        limit_rows += jsonl(p)
best = max(limit_rows, key=lambda r: r["samples_per_sec"])
limits = [jsonl(results / f"limit_best_{r}.jsonl")[0] for r in range(1, runs + 1)]
forwards = [jsonl(results / f"forward_b1_{r}.jsonl")[0] for r in range(1, runs + 1)]
limit_sps = [x["samples_per_sec"] for x in limits]
forward_p50 = [x["forward_p50_us"] for x in forwards]

# --- wrk
c1 = [wrk(f"c1_{r}") for r in range(1, runs + 1)]
c32 = [wrk(f"c32_{r}") for r in range(1, runs + 1)]
all_runs = c1 + c32 + [wrk("warmup_c1"), wrk("warmup_c32")]
non200 = sum(r["non200"] for r in all_runs)
socket_errors = sum(r["errors_connect"] + r["errors_read"] + r["errors_write"] + r["errors_timeout"] for r in all_runs)

ratio = [r["rps"] / l for r, l in zip(c32, limit_sps)]
overhead = [r["p50_us"] - f for r, f in zip(c1, forward_p50)]
mean_batch_c32 = [batch_stats(f"c32_{r}")[0] for r in range(1, runs + 1)]
mean_batch_c1 = [batch_stats(f"c1_{r}")[0] for r in range(1, runs + 1)]
_, _, buckets_c32 = batch_stats(f"c32_{runs}")

# --- machine
cpu = sh("lscpu | sed -n 's/^Model name:[ \\t]*//p'") or "unknown"
cores = sh("nproc")
mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
os_name = sh(". /etc/os-release && echo \"$PRETTY_NAME\"")
debian = sh("cat /etc/debian_version")
kernel = sh("uname -r")
torch = sh("dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null") or sh("dpkg-query -W -f='${Package} ${Version}\\n' 'libtorch*' 2>/dev/null | head -1")
blas = sh("dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null")
wrk_version = sh("wrk -v 2>&1 | head -1").split(" Copyright")[0]
server_meta = json.loads((results / "server_metadata.json").read_text())
git = sh("git rev-parse --short HEAD 2>/dev/null") or "no commit yet"
dirty = " (+ uncommitted changes)" if sh("git status --porcelain 2>/dev/null") else ""
load_start = (results / "loadavg_start.txt").read_text().split()[:3]
load_end = (results / "loadavg_end.txt").read_text().split()[:3]
command = (results / "command.txt").read_text().strip()
server_exit = (results / "server_exit.txt").read_text().strip()
config_threads = forwards[0]["threads"]

def ok(flag):
    return "met" if flag else "**not met**"

f = lambda x: f"{x:,.0f}"
lines = []
w = lines.append
w("# Benchmarks")
w("")
w("Generated by `bench/run_bench.sh`; do not edit by hand. Everything below was measured in one run on one")
w("machine, so compare the ratios, not the absolute numbers (see DESIGN.md, \"How performance is measured\").")
w("")
busy = max(float(load_start[0]), float(load_end[0])) > 0.5 * int(cores or 1)
if busy:
    w(f"> **Warning:** other work was running (load average {load_start[0]} at the start, {load_end[0]} at the end,")
    w(f"> on {cores} cores). These numbers are unreliable; run again on a quiet machine.")
    w("")
w("## Machine")
w("")
w(f"- CPU: {cpu}, {cores} cores available (shared with other work: load average {' '.join(load_start)} at the start, {' '.join(load_end)} at the end)")
w(f"- Memory: {mem_kb / 1024 / 1024:.1f} GiB")
w(f"- OS: {os_name} (debian_version {debian}), kernel {kernel}")
w(f"- libtorch {torch}; OpenBLAS (pthread) {blas or 'not installed'}; {wrk_version}")
w(f"- Ferry {server_meta.get('version', '?')} at git {git}{dirty}; build dir `{os.environ.get('BUILD_DIR', 'build')}`")
w(f"- Run {results.name} (UTC); raw outputs in `{results}` (not committed)")
w("")
w("## Command")
w("")
w("```sh")
w(command)
w("```")
w("")
w(f"Model `{model}` version 1 (`models/{model}/config.toml`), request `{Path((results / 'request.json')).name}` = one real")
w("Fashion-MNIST test image (`examples/infer_cnn_1.json`), JSON over HTTP/1.1 keep-alive.")
w(f"wrk: `wrk -t1 -c1` and `wrk -t2 -c32`, `--latency`, {c1[0]['seconds']:.0f} s per run, {runs} runs each (interleaved),")
w("after a warm-up of each; the client runs on the same 2 cores as the server. Latency is measured by the client.")
w("")
w("## Summary")
w("")
w(f"Medians of {runs} runs; the spread is min–max. Each run measures, back to back: the in-process limit")
w("(the best configuration of the sweep below), one in-process forward at batch 1, Ferry at c1, Ferry at c32;")
w("each ratio pairs numbers of the same run.")
w("")
w("| measurement | median | spread | target |")
w("|---|---:|---:|---|")
w(f"| in-process limit (samples/s) | {f(med(limit_sps))} | {spread(limit_sps)} | best of the sweep: batch {best['batch_size']}, {best['threads']} thread(s) × {best['parallel']} parallel |")
w(f"| in-process forward, batch 1, p50 (µs) | {med(forward_p50):.0f} | {spread(forward_p50)} | {config_threads} intra-op thread(s), as configured |")
w(f"| Ferry c1 throughput (req/s) | {f(med([r['rps'] for r in c1]))} | {spread([r['rps'] for r in c1])} | |")
for p in ("p50", "p90", "p99"):
    w(f"| Ferry c1 latency {p} (µs) | {med([r[p + '_us'] for r in c1]):.0f} | {spread([r[p + '_us'] for r in c1])} | |")
w(f"| Ferry c32 throughput (req/s = samples/s) | {f(med([r['rps'] for r in c32]))} | {spread([r['rps'] for r in c32])} | |")
for p in ("p50", "p90", "p99"):
    w(f"| Ferry c32 latency {p} (µs) | {med([r[p + '_us'] for r in c32]):.0f} | {spread([r[p + '_us'] for r in c32])} | |")
w(f"| **c32 throughput / limit** | **{med(ratio):.0%}** | {spread([x * 100 for x in ratio])} % | ≥ 50 %: {ok(med(ratio) >= 0.5)} |")
w(f"| **c1 p50 − in-process forward at batch 1 (µs)** | **{med(overhead):.0f}** | {spread(overhead)} | ≤ 200 µs: {ok(med(overhead) <= 200)} |")
w("")
w(f"Non-200 responses over all wrk runs: {non200}; socket errors: {socket_errors}. "
  f"Server exit code after SIGTERM: {server_exit}.")
w("")
w("## Batching (the server's own `/metrics`)")
w("")
w(f"Mean rows per executed batch of `{model}` (`ferry_batch_size_sum / ferry_batch_size_count`, difference")
w("between scrapes before and after each run):")
w("")
w("| run | " + " | ".join(str(r) for r in range(1, runs + 1)) + " |")
w("|---|" + "---:|" * runs)
fmt = lambda xs: " | ".join("—" if x is None else f"{x:.1f}" for x in xs)
w(f"| c1 | {fmt(mean_batch_c1)} |")
w(f"| c32 | {fmt(mean_batch_c32)} |")
w("")
if buckets_c32:
    def le_key(s):
        return float("inf") if s == "+Inf" else float(s)
    ordered = sorted(buckets_c32.items(), key=lambda kv: le_key(kv[0]))
    total = ordered[-1][1] if ordered else 0
    w(f"Batch-size histogram during c32 run {runs} (cumulative executions with at most `le` rows; {total:.0f} executions):")
    w("")
    w("| le | " + " | ".join(k for k, _ in ordered) + " |")
    w("|---|" + "---:|" * len(ordered))
    w("| batches | " + " | ".join(f"{v:.0f}" for _, v in ordered) + " |")
    w("")

w("## The limit in detail")
w("")
w(f"`ferry_limit` loads the model through Ferry's backend (`CreateBackend`, frozen + optimized, warmed up) and")
w(f"forwards random 0..255 images for {limit_rows[0]['seconds']:.2g} s per row; `parallel` threads forward at once,")
w("each prepared like a server worker. samples/s counts images; forward times are per `Execute` call.")
w("This sweep picks the best configuration; the summary's limit is that configuration re-measured in each run.")
w("")
w("| threads × parallel | batch | samples/s | forward p50 (µs) | forward mean (µs) | µs per sample |")
w("|---|---:|---:|---:|---:|---:|")
for r in limit_rows:
    mark = " **best**" if r is best else ""
    w(f"| {r['threads']} × {r['parallel']} | {r['batch_size']} | {f(r['samples_per_sec'])}{mark} | "
      f"{r['forward_p50_us']:.0f} | {r['forward_mean_us']:.0f} | {r['forward_mean_us'] / r['batch_size']:.0f} |")
w("")
w("## Per run")
w("")
w("| run | limit (samples/s) | forward b1 p50 (µs) |")
w("|---|---:|---:|")
for i, (l, fw) in enumerate(zip(limit_sps, forward_p50), 1):
    w(f"| #{i} | {f(l)} | {fw:.0f} |")
w("")
w("| run | req/s | p50 (µs) | p90 (µs) | p99 (µs) | p99.9 (µs) | non-200 | socket errors |")
w("|---|---:|---:|---:|---:|---:|---:|---:|")
for name, rs in (("c1", c1), ("c32", c32)):
    for i, r in enumerate(rs, 1):
        errs = r["errors_connect"] + r["errors_read"] + r["errors_write"] + r["errors_timeout"]
        w(f"| {name} #{i} | {f(r['rps'])} | {r['p50_us']:.0f} | {r['p90_us']:.0f} | {r['p99_us']:.0f} | "
          f"{r['p999_us']:.0f} | {r['non200']} | {errs} |")
w("")
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text("\n".join(lines))
print("\n".join(lines[lines.index("## Summary"):lines.index("## Batching (the server's own `/metrics`)")]))
print(f"wrote {out}")
PY
