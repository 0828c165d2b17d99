"""The p99-latency-against-throughput plot of the fashion_cnn sweep (gnuplot, PNG): one
line per Ferry protocol through its concurrency sweep, the peers at c1 and c32, and the
in-process limit as a vertical line."""

import shutil
import subprocess
from pathlib import Path
from typing import Optional

from .stats import med, rec, values


def write(data: dict, path: Path, results: Path) -> Optional[str]:
    """Writes the PNG; returns None, or why there is no plot."""
    if shutil.which("gnuplot") is None:
        return "gnuplot is not installed (make bench-deps)"
    records, k = data["records"], data["knobs"]
    series = []  # (title, data file, style)
    for protocol in k["PROTOCOLS"]:
        points = []
        for c in k["SWEEP"]:
            rs = rec(records, server="ferry", model="fashion_cnn", protocol=protocol,
                     mode="concurrency", value=c)
            rps, p99 = med(values(rs, "rps")), med(values(rs, "p99"))
            if rps is not None and p99 is not None:
                points.append((rps, p99 / 1000, c))
        if points:
            series.append((f"Ferry {protocol}", points, "linespoints"))
    for config in sorted({r["config"] for r in records if r["server"] == "peer"}):
        points = []
        for c in (1, 32):
            rs = rec(records, server="peer", config=config, model="fashion_cnn",
                     mode="concurrency", value=c)
            rps, p99 = med(values(rs, "rps")), med(values(rs, "p99"))
            if rps is not None and p99 is not None:
                points.append((rps, p99 / 1000, c))
        if points:
            series.append((f"FastAPI peer {config} (workers x threads)", points, "linespoints"))
    if not series:
        return "no successful closed-loop measurement on fashion_cnn"
    plots = []
    colors = iter(["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"])
    for i, (title, points, style) in enumerate(series):
        f = results / f"plot_series_{i}.dat"
        f.write_text("".join(f"{x} {y} {c}\n" for x, y, c in points))
        color = next(colors, "black")
        dash = "dt 2 " if title.startswith("FastAPI") else ""
        plots.append(f"'{f}' using 1:2 with {style} lw 2 pt 7 {dash}lc rgb '{color}' "
                     f"title '{title}', '{f}' using 1:2:(sprintf('c%d', $3)) with labels "
                     f"offset 0.8,0.6 font ',8' tc rgb '{color}' notitle")
    limit = med(data["limit"].get("fashion_cnn", {}).get("runs", []))
    xmax = 1.08 * max([x for _, points, _ in series for x, _, _ in points] + [limit or 0])
    arrow = ""
    if limit:
        arrow = (f"set arrow from {limit},graph 0 to {limit},graph 1 nohead dt 2 lc rgb 'gray40'\n"
                 f"set label 'in-process limit' at {limit},graph 0.95 right offset -0.5,0 "
                 "tc rgb 'gray40'\n")
    terminal = "pngcairo" if "pngcairo" in subprocess.run(
        ["gnuplot", "-e", "set terminal"], capture_output=True, text=True).stderr else "png"
    script = (f"set terminal {terminal} size 1000,620 noenhanced\n"
              f"set output '{path}'\n"
              "set title 'fashion_cnn: p99 latency against throughput (closed loop, medians)'\n"
              "set xlabel 'throughput (requests/s)'\nset ylabel 'p99 latency (ms)'\n"
              "set logscale y\nset grid\nset key top left\n"
              f"set xrange [0:{xmax:.0f}]\n"
              f"{arrow}plot " + ", ".join(plots) + "\n")
    (results / "plot.gp").write_text(script)
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["gnuplot", str(results / "plot.gp")], capture_output=True, text=True)
    if proc.returncode != 0 or not path.exists():
        return f"gnuplot failed: {proc.stderr.strip()[:300]}"
    return None
