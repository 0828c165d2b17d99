"""SIGTERM: the server stops accepting, finishes the work it has, and exits 0."""

import json
import shutil
import tempfile
import threading
import time
import unittest
from pathlib import Path

import numpy as np
import requests

from server import (FerryServer, copy_model, fashion_test_set, image_request, metric, output,
                    output_array, parse_metrics, require_models, simple_config, simple_request)

EXIT_TIMEOUT_S = 20


class SigtermTest(unittest.TestCase):
    """Each test owns its server, since the test ends it."""

    def setUp(self):
        self.repo = Path(tempfile.mkdtemp(prefix="ferry-e2e-repo-"))
        self.server = None

    def tearDown(self):
        if self.server is not None:
            self.server.stop()
        shutil.rmtree(self.repo, ignore_errors=True)

    def start(self):
        self.server = FerryServer(self.repo, name=self.id().rsplit(".", 1)[-1]).start()
        return self.server

    def test_queued_requests_finish_and_exit_code_is_zero(self):
        require_models("simple")
        # A five-second batching window that five one-row requests cannot fill: at SIGTERM
        # they are all still waiting in the queue.
        copy_model(self.repo, "simple", "slow", config=simple_config(
            max_batch_size=8, max_queue_delay_us=5000000, preferred=(), max_queue_size=100))
        server = self.start()
        url = server.base_url + "/v2/models/slow/infer"
        idle = requests.Session()  # an idle keep-alive connection must not hold up the exit
        self.assertEqual(idle.get(server.base_url + "/v2/health/live", timeout=10).status_code, 200)

        results = {}

        def send(i):
            a = np.full(16, i)
            try:
                r = requests.post(url, data=json.dumps(simple_request(a, np.ones(16, dtype=int))), timeout=30)
                results[i] = (r.status_code, r.text)
            except requests.RequestException as e:
                results[i] = (None, repr(e))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        # Wait until the server holds all five (its queue-depth gauge says so).
        deadline = time.monotonic() + 4
        depth = None
        while time.monotonic() < deadline:
            values = parse_metrics(idle.get(server.base_url + "/metrics", timeout=10).text)
            depth = metric(values, "ferry_queue_depth", model="slow")
            if depth == 5:
                break
            time.sleep(0.05)
        self.assertEqual(depth, 5, "the five requests never showed in ferry_queue_depth")
        self.assertEqual(results, {}, "requests finished before the batching window closed")
        t0 = time.monotonic()
        server.terminate()
        try:
            code = server.wait(timeout=EXIT_TIMEOUT_S)
        except Exception:  # noqa: BLE001
            self.fail(f"server did not exit within {EXIT_TIMEOUT_S} s of SIGTERM; log:\n{server.log_tail()}")
        took = time.monotonic() - t0
        for t in threads:
            t.join(timeout=30)
        idle.close()
        self.assertEqual(code, 0, f"exit code {code}; log:\n{server.log_tail()}")
        self.assertEqual(sorted(results), list(range(5)))
        for i, (status, text) in results.items():
            self.assertEqual(status, 200, f"request {i} in flight at SIGTERM: {status} {text[:200]}")
            body = json.loads(text)
            self.assertEqual(output(body, "OUTPUT0")["data"], [i + 1] * 16)
        print(f"\n  exited {took:.2f} s after SIGTERM", end=" ")

    def test_sigterm_under_load(self):
        require_models("fashion_cnn")
        copy_model(self.repo, "fashion_cnn")
        server = self.start()
        images, _ = fashion_test_set()
        bodies = [json.dumps(image_request(images[i:i + 8], request_id=str(i))) for i in range(8)]
        reference = {}
        with requests.Session() as s:
            for i, body in enumerate(bodies):
                r = s.post(server.base_url + "/v2/models/fashion_cnn/infer", data=body, timeout=30)
                self.assertEqual(r.status_code, 200, r.text[:200])
                reference[str(i)] = output_array(r.json(), "logits")
        stop = threading.Event()
        statuses, problems = [], []

        def client(k):
            session = requests.Session()
            n = 0
            while not stop.is_set():
                i = (k + n) % len(bodies)
                n += 1
                try:
                    r = session.post(server.base_url + "/v2/models/fashion_cnn/infer", data=bodies[i], timeout=30)
                except requests.ConnectionError:
                    # After the listener closes, new connections are refused: expected.
                    if server.proc.poll() is None and not terminated.is_set():
                        problems.append(f"connection error before SIGTERM (client {k})")
                    time.sleep(0.01)
                    continue
                statuses.append(r.status_code)
                if r.status_code == 200:
                    got = output_array(r.json(), "logits")
                    if not np.allclose(got, reference[str(i)], rtol=1e-3, atol=1e-3):
                        problems.append(f"wrong logits for request {i}")
                elif r.status_code != 503:
                    problems.append(f"{r.status_code} {r.text[:200]}")
            session.close()

        terminated = threading.Event()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        served_before = len(statuses)
        terminated.set()
        server.terminate()
        try:
            code = server.wait(timeout=EXIT_TIMEOUT_S)
        except Exception:  # noqa: BLE001
            stop.set()
            self.fail(f"server did not exit within {EXIT_TIMEOUT_S} s of SIGTERM; log:\n{server.log_tail()}")
        stop.set()
        for t in threads:
            t.join(timeout=30)
        self.assertEqual(code, 0, f"exit code {code}; log:\n{server.log_tail()}")
        self.assertGreater(served_before, 10, "too little load before SIGTERM to mean anything")
        self.assertEqual(problems, [])


if __name__ == "__main__":
    unittest.main()
