"""GET /metrics: the counters move with traffic and the text passes promtool."""

import json
import re
import shutil
import subprocess
import unittest

import numpy as np

from server import (ServerTestCase, fashion_test_set, image_request, metric, parse_metrics,
                    simple_request)

GOOD_CNN, IMAGES_PER_REQUEST, BAD_CNN, GOOD_SIMPLE = 20, 2, 3, 5


class MetricsTest(ServerTestCase):
    models = ("fashion_cnn", "simple")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        images, _ = fashion_test_set()
        for i in range(GOOD_CNN):
            r = cls.http.post(cls.base + "/v2/models/fashion_cnn/infer",
                              data=json.dumps(image_request(images[i:i + IMAGES_PER_REQUEST])), timeout=60)
            assert r.status_code == 200, r.text[:300]
        bad = image_request(images[:1])
        bad["inputs"][0]["shape"] = [1, 28, 28]   # valid JSON, wrong for the model: invalid
        for _ in range(BAD_CNN):
            r = cls.http.post(cls.base + "/v2/models/fashion_cnn/infer", data=json.dumps(bad), timeout=60)
            assert r.status_code == 400, r.text[:300]
        a = np.arange(16)
        for _ in range(GOOD_SIMPLE):
            r = cls.http.post(cls.base + "/v2/models/simple/infer",
                              data=json.dumps(simple_request(a, a)), timeout=60)
            assert r.status_code == 200, r.text[:300]

    def scrape(self):
        r = self.get("/metrics")
        self.assertEqual(r.status_code, 200)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("text/plain"),
                        r.headers.get("Content-Type"))
        return r.text

    def test_request_counters(self):
        values = parse_metrics(self.scrape())
        cnn = dict(model="fashion_cnn", version="1")
        self.assertGreaterEqual(metric(values, "ferry_requests_total", outcome="success", **cnn) or 0, GOOD_CNN)
        self.assertGreaterEqual(metric(values, "ferry_requests_total", outcome="invalid", **cnn) or 0, BAD_CNN)
        self.assertGreaterEqual(metric(values, "ferry_requests_total", outcome="success", model="simple") or 0,
                                GOOD_SIMPLE)
        for outcome in ("success", "invalid", "rejected", "cancelled", "error"):
            self.assertIsNotNone(metric(values, "ferry_requests_total", outcome=outcome, **cnn),
                                 f"no ferry_requests_total series for outcome {outcome}")
        self.assertEqual(metric(values, "ferry_requests_total", outcome="error", **cnn), 0)

    def test_counters_move_by_exactly_the_traffic(self):
        before = parse_metrics(self.scrape())
        images, _ = fashion_test_set()
        for i in range(4):
            self.assertOk(self.infer("fashion_cnn", image_request(images[i:i + 3])))
        after = parse_metrics(self.scrape())
        cnn = dict(model="fashion_cnn", version="1")
        for name, delta in (("ferry_requests_total", 4), ("ferry_inference_count_total", 12),
                            ("ferry_request_duration_seconds_count", 4)):
            labels = dict(outcome="success") if name == "ferry_requests_total" else {}
            self.assertEqual(metric(after, name, **cnn, **labels) - metric(before, name, **cnn, **labels),
                             delta, name)
        executions = metric(after, "ferry_execution_count_total", **cnn) - metric(
            before, "ferry_execution_count_total", **cnn)
        self.assertTrue(1 <= executions <= 4, executions)

    def test_histograms_and_gauges(self):
        values = parse_metrics(self.scrape())
        cnn = dict(model="fashion_cnn", version="1")
        rows = GOOD_CNN * IMAGES_PER_REQUEST
        self.assertGreaterEqual(metric(values, "ferry_inference_count_total", **cnn), rows)
        executions = metric(values, "ferry_execution_count_total", **cnn)
        self.assertGreaterEqual(executions, 1)
        self.assertLessEqual(executions, metric(values, "ferry_inference_count_total", **cnn))
        self.assertGreaterEqual(metric(values, "ferry_batch_size_sum", **cnn), rows)
        self.assertGreaterEqual(metric(values, "ferry_batch_size_count", **cnn), 1)
        for name in ("ferry_request_duration_seconds", "ferry_queue_duration_seconds",
                     "ferry_compute_duration_seconds", "ferry_batch_size"):
            with self.subTest(histogram=name):
                count = metric(values, name + "_count", **cnn)
                self.assertIsNotNone(count, name)
                self.assertGreaterEqual(count, 1)
                self.assertEqual(metric(values, name + "_bucket", le="+Inf", **cnn), count)
                self.assertGreaterEqual(metric(values, name + "_sum", **cnn), 0)
        self.assertGreaterEqual(metric(values, "ferry_request_duration_seconds_count", **cnn), GOOD_CNN)
        self.assertEqual(metric(values, "ferry_queue_depth", **cnn), 0)

    def test_buckets_are_cumulative(self):
        text = self.scrape()
        series = {}
        for line in text.splitlines():
            m = re.match(r'^(ferry_\w+)_bucket\{(.*)\} (\S+)$', line)
            if not m:
                continue
            labels = re.sub(r',?le="[^"]*"', "", m.group(2))
            series.setdefault((m.group(1), labels), []).append(float(m.group(3)))
        self.assertTrue(series, "no histogram buckets in /metrics")
        for key, counts in series.items():
            self.assertEqual(counts, sorted(counts), f"{key} buckets are not cumulative")

    def test_every_metric_has_help_and_type(self):
        text = self.scrape()
        typed = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
        helped = set(re.findall(r"^# HELP (\S+) ", text, re.M))
        self.assertTrue(typed)
        self.assertEqual(typed, helped)
        for name in ("ferry_requests_total", "ferry_request_duration_seconds", "ferry_queue_duration_seconds",
                     "ferry_compute_duration_seconds", "ferry_batch_size", "ferry_queue_depth",
                     "ferry_inference_count_total", "ferry_execution_count_total"):
            self.assertIn(name, typed)

    @unittest.skipUnless(shutil.which("promtool"), "promtool not installed (Debian package prometheus)")
    def test_promtool_check_metrics(self):
        text = self.scrape()
        p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, (p.stdout + p.stderr).decode(errors="replace"))


class ThreadNamesTest(ServerTestCase):
    """top -H and bench/cpu_budget tell Ferry's threads apart by name."""
    models = ("fashion_cnn", "simple")
    server_args = ("--http-threads", "3")

    def test_http_threads_and_workers_are_named(self):
        from pathlib import Path
        names = sorted((t / "comm").read_text().strip()
                       for t in Path(f"/proc/{self.server.proc.pid}/task").iterdir())
        self.assertEqual([n for n in names if n.startswith("http-io-")],
                         ["http-io-0", "http-io-1", "http-io-2"])
        # One worker each (the models' config.toml), named after model and version.
        self.assertEqual(names.count("w:fashion_cnn:1"), 1, names)
        self.assertEqual(names.count("w:simple:1"), 1, names)


if __name__ == "__main__":
    unittest.main()
