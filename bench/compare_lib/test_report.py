"""The report's arithmetic on made-up results: run-by-run pairing, medians, the better
peer, the open-loop rate, errors counting as not measured, and a page that renders.

    /usr/bin/python3 -m unittest discover -s bench/compare_lib -p 'test_*.py'
"""

import shutil
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compare_lib import machine, plot, report  # noqa: E402
from compare_lib.stats import med, med_spread, spread  # noqa: E402


def record(run, server, config, model, protocol, value, rps, p50=100.0, p99=200.0,
           mode="concurrency", errors=0, ok=1000):
    return {"run": run, "server": server, "config": config, "model": model,
            "protocol": protocol, "mode": mode, "value": value, "ok": ok, "errors": errors,
            "rps": rps, "p50": p50, "p90": p50, "p99": p99, "max": p99, "client_cpu_us": 30.0,
            "client_cpu_percent": 10.0, "avg_batch": 4.0, "queue_us": 1.0, "compute_us": 5.0,
            "offered_rps": rps if mode == "rate" else None, "error_kinds": {},
            "error_examples": [], "warnings": []}


def results() -> dict:
    records = []
    for run, scale in ((1, 1.0), (2, 1.1), (3, 0.9)):
        for protocol, rps in (("grpc", 8000), ("http-binary", 7000), ("http-json", 6000)):
            for model in ("fashion_cnn", "fashion_mlp"):
                records.append(record(run, "ferry", "ferry", model, protocol, 1, 2000 * scale,
                                      p50=250.0 + run))
                records.append(record(run, "ferry", "ferry", model, protocol, 32, rps * scale))
        for model in ("fashion_cnn", "fashion_mlp"):
            records.append(record(run, "peer", "1x2", model, "http-json", 1, 500 * scale))
            records.append(record(run, "peer", "1x2", model, "http-json", 32, 800 * scale))
            records.append(record(run, "peer", "2x1", model, "http-json", 1, 700 * scale))
            records.append(record(run, "peer", "2x1", model, "http-json", 32, 1000 * scale))
        records.append(record(run, "ferry", "ferry", "fashion_cnn", "http-json", 800.0, 800,
                              p99=1000.0, mode="rate"))
        records.append(record(run, "peer", "2x1", "fashion_cnn", "http-json", 800.0, 790,
                              p99=5000.0 * run, mode="rate"))
    return {
        "knobs": {"RUNS": 3, "PROTOCOLS": ["grpc", "http-binary", "http-json"],
                  "SWEEP": [1, 32], "OPEN_FRACTION": 0.8, "WARMUP": 1, "DURATION": 5,
                  "OPEN_DURATION": 10, "LIMIT_SECONDS": 3, "CLIENT_THREADS": 1,
                  "INT8_PROTOCOL": "grpc", "SMOKE": False},
        "machine": {"cpu": "test", "cores": 2, "memory_gib": 1, "os": "Debian", "debian": "12",
                    "kernel": "6", "libtorch": "1.13", "openblas": "0.3", "blis": "0.9",
                    "ferry_blis": True, "ferry_tcmalloc": True, "tcmalloc": "2.10",
                    "grpc": "1.51",
                    "peer": "FastAPI", "uvloop": True, "git": "abc", "dirty": False,
                    "build_dir": "build"},
        "loadavg_start": ["0.10", "0.1", "0.1"], "loadavg_end": ["1.9", "1", "1"], "steal": 0.01,
        "started": "s", "finished": "f", "command": "bench/compare", "results": "bench/results/x",
        "records": records,
        "limit": {"fashion_cnn": {"runs": [10000, 11000, 9000], "best": None, "rows": []},
                  "fashion_mlp": {"runs": [40000, 40000, 40000], "best": None, "rows": []}},
        "forward_b1": {"fashion_cnn": [{"forward_p50_us": 200.0}] * 3,
                       "fashion_mlp": [{"forward_p50_us": 30.0}] * 3},
        "open_rate": 800.0, "open_peer": "2x1", "micro": {},
    }


class ReportTest(unittest.TestCase):
    def test_targets_pair_numbers_of_the_same_run(self):
        rows = {r["label"]: r for r in report.Targets(results()).build()}
        grpc = rows["fashion_cnn c32 Ferry grpc / in-process limit"]
        # 8000 x scale / 10000 x scale in every run: the drift cancels.
        self.assertEqual(grpc["values"], [0.8, 0.8, 0.8])
        self.assertEqual(grpc["result"], report.MET)
        json_row = rows["fashion_cnn c32 Ferry http-json / in-process limit"]
        self.assertAlmostEqual(json_row["median"], 0.6)
        self.assertEqual(json_row["result"], report.NOT_MET)  # goal 65%

    def test_better_peer_and_the_peer_ratio(self):
        self.assertEqual(report.best_peer(results()["records"], "fashion_cnn"), "2x1")
        rows = {r["label"]: r for r in report.Targets(results()).build()}
        peer = rows["fashion_cnn c32 Ferry http-json / better peer (2x1 workers x threads)"]
        self.assertAlmostEqual(peer["median"], 6.0)
        self.assertEqual(peer["result"], report.MET)

    def test_open_loop(self):
        rate, config = report.open_loop_rate(results()["records"], 0.8)
        self.assertEqual(config, "2x1")
        self.assertAlmostEqual(rate, 800.0)  # 80% of the median c32 rate, 1000
        rows = [r for r in report.Targets(results()).build() if "open loop" in r["label"]]
        self.assertEqual(len(rows), 1)
        # 1000 / (5000 x run): 0.2, 0.1, 0.0667.
        self.assertAlmostEqual(rows[0]["median"], 0.1)
        self.assertEqual(rows[0]["result"], report.MET)

    def test_overhead_over_the_forward(self):
        rows = {r["label"]: r for r in report.Targets(results()).build()}
        over = rows["fashion_cnn c1 Ferry grpc p50 − in-process forward at batch 1"]
        self.assertEqual(over["values"], [51.0, 52.0, 53.0])
        self.assertEqual(over["result"], report.MET)

    def test_points_with_errors_do_not_count(self):
        data = results()
        for r in data["records"]:
            if r["protocol"] == "grpc" and r["value"] == 32:
                r["errors"] = 3
        rows = {r["label"]: r for r in report.Targets(data).build()}
        self.assertEqual(rows["fashion_cnn c32 Ferry grpc / in-process limit"]["result"],
                         report.NA)

    def test_page_renders_every_section(self):
        tmp = Path(tempfile.mkdtemp())
        try:
            data = results()
            note = plot.write(data, tmp / "plot.png", tmp) if shutil.which("gnuplot") else "x"
            if shutil.which("gnuplot"):
                self.assertIsNone(note)
                self.assertGreater((tmp / "plot.png").stat().st_size, 1000)
            text = report.render(data, tmp / "benchmarks.md", tmp / "plot.png", note)
            for heading in ("## Targets", "## Machine", "## fashion_cnn: Ferry, the limit",
                            "## fashion_mlp: Ferry, the limit", "## Open loop",
                            "## What the load generator costs", "## Serving core"):
                self.assertIn(heading, text)
            self.assertIn("| fashion_cnn c32 Ferry grpc / in-process limit | **80%** |", text)
            self.assertIn("Ferry's BLAS: BLIS (serial) 0.9; the peer's: OpenBLAS (pthread) 0.3", text)
            data["machine"]["ferry_blis"] = False
            text = report.render(data, tmp / "benchmarks.md", tmp / "plot.png", note)
            self.assertIn("Ferry's BLAS: OpenBLAS (pthread) 0.3; the peer's: OpenBLAS", text)
            self.assertIn("Ferry's malloc: tcmalloc 2.10, the peer's: glibc's", text)
            data["machine"]["ferry_tcmalloc"] = False
            text = report.render(data, tmp / "benchmarks.md", tmp / "plot.png", note)
            self.assertIn("Ferry's malloc: glibc's, the peer's: glibc's", text)
            self.assertNotIn("Warning", text)
            self.assertIn("stolen by the hypervisor during the run: 1.0%", text)
            data["steal"] = 0.25
            text = report.render(data, tmp / "benchmarks.md", tmp / "plot.png", note)
            self.assertIn("the hypervisor took 25% of this machine's CPU time", text)
            # A section another script keeps in the page survives a new render.
            kept = (f"{report.KEPT_BEGIN} bench/shm_compare -->\n## Shared memory\n\n| a |\n"
                    f"{report.KEPT_END}")
            (tmp / "benchmarks.md").write_text(text + "\n" + kept + "\n")
            text = report.render(data, tmp / "benchmarks.md", tmp / "plot.png", note)
            self.assertTrue(text.rstrip().endswith(kept), text[-300:])
            self.assertEqual(text.count("## Shared memory"), 1)
        finally:
            shutil.rmtree(tmp)

    def test_steal_share_is_steal_over_all_ticks_between_readings(self):
        # user nice system idle iowait irq softirq steal guest guest_nice
        start = [100, 0, 50, 800, 10, 0, 5, 35, 0, 0]
        end = [160, 0, 70, 835, 10, 0, 10, 75, 7, 0]   # 40 of 160 ticks stolen
        self.assertAlmostEqual(machine.steal_share(start, end), 0.25)
        self.assertEqual(machine.steal_share(start, start), 0.0)
        self.assertGreaterEqual(len(machine.cpu_ticks()), 8)

    def test_stats_helpers(self):
        self.assertEqual(med([3, 1, 2]), 2)
        self.assertIsNone(med([None]))
        self.assertEqual(spread([1000, 2500]), "1,000–2,500")
        self.assertEqual(spread([5]), "")
        self.assertEqual(med_spread([3000, 1000, 2500]), "2,500 (1,000–3,000)")
        self.assertEqual(med_spread([5.3, None], "{:.1f}"), "5.3")
        self.assertEqual(med_spread([]), "n/a")


if __name__ == "__main__":
    unittest.main()
