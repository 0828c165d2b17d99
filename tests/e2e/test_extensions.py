"""The statistics and model repository extensions over HTTP, and the server metadata that
advertises them: stats endpoints count exactly the traffic sent; models are unloaded,
loaded, added and refused (bad config) by name; and loading and unloading one model over
and over never fails a request to another model that four clients keep busy."""

import concurrent.futures
import threading
import time
import unittest

import numpy as np
import requests

from server import (EXTENSIONS, ServerTestCase, copy_model, output, simple_config,
                    simple_request)

DURATION_KEYS = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


class ExtensionsTest(ServerTestCase):
    # simple: hammered by clients; counted: only the stats test uses it; churn: loaded and
    # unloaded; broken_later: its config is broken on disk while it serves.
    @classmethod
    def required_models(cls):
        return ("simple",)

    @classmethod
    def build_repository(cls, repo):
        for name in ("simple", "counted", "churn", "broken_later"):
            copy_model(repo, "simple", name)

    # -- helpers --

    def stats(self, path: str) -> list:
        body = self.assertOk(self.get(path))
        self.assertEqual(list(body), ["model_stats"])
        return body["model_stats"]

    def one_stats(self, model: str) -> dict:
        stats = self.stats(f"/v2/models/{model}/stats")
        self.assertEqual(len(stats), 1, stats)
        return stats[0]

    def control(self, model: str, action: str, body=None) -> requests.Response:
        return self.post(f"/v2/repository/models/{model}/{action}", body=body, timeout=120)

    def index(self) -> dict:
        return {e["name"]: e for e in self.assertOk(self.post("/v2/repository/index", data=b""))}

    def simple_ok(self, model: str, session=None, rows: int = 1) -> bool:
        a = np.arange(16 * rows).reshape(rows, 16)
        http = session or self.http
        r = http.post(self.url(f"/v2/models/{model}/infer"), json=simple_request(a, a), timeout=60)
        return r.status_code == 200 and output(r.json(), "OUTPUT0")["data"] == (2 * a).reshape(-1).tolist()

    # ---- server metadata ----

    def test_server_metadata_lists_exactly_the_implemented_extensions(self):
        self.assertEqual(self.assertOk(self.get("/v2"))["extensions"], EXTENSIONS)

    # ---- statistics ----

    def test_statistics_count_exactly_the_traffic_sent(self):
        before = self.one_stats("counted")
        self.assertEqual((before["name"], before["version"]), ("counted", "1"))
        for key in ("last_inference", "inference_count", "execution_count"):
            self.assertIsInstance(before[key], int, key)
        for key in DURATION_KEYS:
            self.assertEqual(set(before["inference_stats"][key]), {"count", "ns"}, key)
        self.assertIsInstance(before["batch_stats"], list)

        t0_ms = int(time.time() * 1000)
        for _ in range(5):
            self.assertTrue(self.simple_ok("counted"))
        self.assertTrue(self.simple_ok("counted", rows=3))
        bad = simple_request(np.zeros((1, 16)), np.zeros((1, 16)))
        bad["inputs"][1]["shape"] = [1, 8]
        bad["inputs"][1]["data"] = [0] * 8
        self.assertEqual(self.infer("counted", bad).status_code, 400)

        after = self.one_stats("counted")
        delta = lambda key: after[key] - before[key]
        dur = lambda key, f: after["inference_stats"][key][f] - before["inference_stats"][key][f]
        self.assertEqual(delta("inference_count"), 8)   # rows
        self.assertEqual(delta("execution_count"), 6)   # one batch per sequential request
        self.assertEqual(dur("success", "count"), 6)
        self.assertGreater(dur("success", "ns"), 0)
        self.assertEqual(dur("fail", "count"), 1)
        self.assertEqual(dur("queue", "count"), 6)
        self.assertEqual(dur("compute_infer", "count"), 6)
        self.assertGreater(dur("compute_infer", "ns"), 0)
        self.assertGreaterEqual(after["last_inference"], t0_ms - 1000)
        self.assertLessEqual(after["last_inference"], int(time.time() * 1000) + 1000)
        sizes = {b["batch_size"]: b["compute_infer"]["count"] for b in after["batch_stats"]}
        before_sizes = {b["batch_size"]: b["compute_infer"]["count"] for b in before["batch_stats"]}
        self.assertEqual(sizes.get(1, 0) - before_sizes.get(1, 0), 5)
        self.assertEqual(sizes.get(3, 0) - before_sizes.get(3, 0), 1)

        # The same numbers from the version path and from the all-models path.
        by_version = self.stats("/v2/models/counted/versions/1/stats")
        self.assertEqual(by_version[0]["inference_count"], after["inference_count"])
        everything = {s["name"]: s for s in self.stats("/v2/models/stats")}
        self.assertTrue({"simple", "counted"} <= set(everything), list(everything))
        self.assertEqual(everything["counted"]["inference_count"], after["inference_count"])

    def test_statistics_errors(self):
        self.assertError(self.get("/v2/models/no_such_model/stats"), 404, mentions=["no_such_model"])
        self.assertError(self.get("/v2/models/counted/versions/9/stats"), 404, mentions=["9"])
        self.assertError(self.get("/v2/models/counted/versions/x/stats"), 404, mentions=["'x'"])
        self.assertError(self.get("/v2/models/counted/versions/X/stats"), 400, mentions=["X"])
        r = self.post("/v2/models/counted/stats", body={})
        self.assertError(r, 405)
        self.assertEqual(r.headers.get("Allow"), "GET")

    # ---- model repository ----

    def test_unload_then_load_again(self):
        r = self.control("churn", "unload")
        self.assertEqual(self.assertOk(r), {"name": "churn", "unload": True})
        entry = self.index()["churn"]
        self.assertEqual(entry["state"], "UNAVAILABLE")
        self.assertIn("unloaded", entry.get("reason", ""))
        self.assertError(self.infer("churn", simple_request(np.zeros(16), np.zeros(16))), 404,
                         mentions=["churn"])
        self.assertEqual(self.get("/v2/models/churn/ready").status_code, 404)
        self.assertError(self.control("churn", "unload"), 404, mentions=["churn"])

        self.assertEqual(self.assertOk(self.control("churn", "load")), {"name": "churn", "load": True})
        entry = self.index()["churn"]
        self.assertEqual((entry["state"], entry["version"]), ("READY", "1"))
        self.assertTrue(self.simple_ok("churn"))
        # Loading a loaded model reloads it; it keeps serving.
        self.assertOk(self.control("churn", "load", body={}))
        self.assertTrue(self.simple_ok("churn"))

    def test_load_a_model_added_after_start(self):
        self.assertNotIn("late", self.index())
        self.assertError(self.infer("late", simple_request(np.zeros(16), np.zeros(16))), 404)
        copy_model(self._repo_dir, "simple", "late")
        self.assertOk(self.control("late", "load"))
        self.assertEqual(self.index()["late"]["state"], "READY")
        self.assertTrue(self.simple_ok("late"))
        self.assertEqual(len(self.stats("/v2/models/late/stats")), 1)

    def test_load_errors(self):
        self.assertError(self.control("no_such_model", "load"), 404, mentions=["no_such_model"])
        self.assertError(self.control("simple", "load", body={"parameters": {"colour": "blue"}}),
                         400, mentions=["unknown load parameter", "colour"])
        self.assertError(self.control("simple", "load", body=[1]), 400, mentions=["object"])
        r = self.get("/v2/repository/models/simple/load")
        self.assertError(r, 405)
        self.assertEqual(r.headers.get("Allow"), "POST")
        self.assertError(self.post("/v2/repository/models/simple/reload"), 404)
        # A config broken on disk: 400 naming the problem, and the loaded version serves on.
        (self._repo_dir / "broken_later" / "config.toml").write_text(simple_config(max_queue_size=0))
        self.assertError(self.control("broken_later", "load"), 400,
                         mentions=["max_queue_size", "at least 1"])
        self.assertTrue(self.simple_ok("broken_later"))
        self.assertEqual(self.index()["broken_later"]["state"], "READY")

    def test_load_and_unload_repeatedly_while_another_model_is_hammered(self):
        stop = threading.Event()
        failures, counts = [], [0] * 4

        def hammer(i):
            with requests.Session() as session:
                while not stop.is_set():
                    rows = 1 + (counts[i] % 3)
                    a = np.arange(16 * rows).reshape(rows, 16) + i
                    try:
                        r = session.post(self.url("/v2/models/simple/infer"),
                                         json=simple_request(a, a, request_id=f"{i}-{counts[i]}"),
                                         timeout=60)
                        ok = (r.status_code == 200 and r.json()["id"] == f"{i}-{counts[i]}"
                              and output(r.json(), "OUTPUT0")["data"] == (2 * a).reshape(-1).tolist())
                        if not ok:
                            failures.append((r.status_code, r.text[:200]))
                    except requests.RequestException as e:
                        failures.append(("exception", repr(e)))
                    counts[i] += 1

        cycles = 8
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            workers = [pool.submit(hammer, i) for i in range(4)]
            try:
                time.sleep(0.2)
                for cycle in range(cycles):
                    r = self.control("churn", "unload")
                    self.assertEqual(r.status_code, 200, f"cycle {cycle} unload: {r.text[:200]}")
                    r = self.control("churn", "load")
                    self.assertEqual(r.status_code, 200, f"cycle {cycle} load: {r.text[:200]}")
                    self.assertTrue(self.simple_ok("churn"), f"cycle {cycle}: churn does not serve")
                time.sleep(0.2)
            finally:
                stop.set()
                for w in workers:
                    w.result(timeout=120)
        self.assertEqual(failures, [], f"{len(failures)} requests to 'simple' failed")
        self.assertTrue(all(c >= 5 for c in counts), f"each client should have been served: {counts}")
        self.assertEqual(self.index()["churn"]["state"], "READY")
        self.assertServerAnswers()


if __name__ == "__main__":
    unittest.main()
