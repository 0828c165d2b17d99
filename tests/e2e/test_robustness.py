"""The server under abuse: floods of bad requests (no crash, no memory growth), many
concurrent clients (no cross-talk between requests), slow and vanishing clients."""

import json
import socket
import subprocess
import threading
import time
import unittest

import numpy as np
import requests

from server import (ServerTestCase, fashion_test_set, ferry_bin, image_request, output_array,
                    simple_request)


def bad_requests():
    """(method, path, body bytes) of many kinds of bad requests."""
    images, _ = fashion_test_set()
    good = image_request(images[:1])
    text = json.dumps(good)
    infer = "/v2/models/fashion_cnn/infer"

    def mutate(fn):
        body = json.loads(text)
        fn(body)
        return json.dumps(body).encode()

    batch = np.tile(images, (int(np.ceil(65 / len(images))), 1, 1))[:65]
    cases = [
        ("POST", infer, b""),
        ("POST", infer, b"not json at all"),
        ("POST", infer, text[: len(text) // 3].encode()),
        ("POST", infer, text.replace("0.0", "NaN", 1).encode()),
        ("POST", infer, text.replace("0.0", "1e999", 1).encode()),
        ("POST", infer, b'{"inputs":' + b"[" * 20000),
        ("POST", infer, mutate(lambda b: b["inputs"][0].update(datatype="INT32"))),
        ("POST", infer, mutate(lambda b: b["inputs"][0].update(shape=[1, 28, 28]))),
        ("POST", infer, mutate(lambda b: b["inputs"][0].update(name="nope"))),
        ("POST", infer, mutate(lambda b: b["inputs"][0].pop("data"))),
        ("POST", infer, mutate(lambda b: b["inputs"][0].update(data=b["inputs"][0]["data"][:500]))),
        ("POST", infer, mutate(lambda b: b.update(outputs=[{"name": "logits",
                                                             "parameters": {"classification": 11}}]))),
        ("POST", infer, mutate(lambda b: b.update(outputs=[{"name": "x" * 1000}]))),
        ("POST", infer, json.dumps(image_request(batch)).encode()),
        ("POST", "/v2/models/" + "m" * 2000 + "/infer", text.encode()),
        ("POST", "/v2/models/fashion_cnn/versions/7/infer", text.encode()),
        ("POST", "/v2/models/simple/infer",
         json.dumps(simple_request(np.full(16, 2**31 - 1), np.ones(16))).replace(
             str(2**31 - 1), str(2**40), 1).encode()),
        ("DELETE", infer, b""),
        ("GET", "/v2/nowhere/" + "x" * 500, b""),
    ]
    return cases


class BadRequestFloodTest(ServerTestCase):
    models = ("fashion_cnn", "simple")

    def send_bad(self, session, case):
        method, path, body = case
        r = session.request(method, self.url(path), data=body,
                            headers={"Content-Type": "application/json"}, timeout=30)
        self.assertIn(r.status_code, (400, 404, 405, 413),
                      f"{method} {path[:60]} {body[:80]!r} -> {r.status_code} {r.text[:200]}")
        self.assertTrue(r.json().get("error"), r.text[:200])

    def test_flood_of_bad_requests(self):
        images, _ = fashion_test_set()
        good = image_request(images[:2])
        reference = output_array(self.assertOk(self.infer("fashion_cnn", good)), "logits")
        cases = bad_requests()
        session = requests.Session()
        # Warm up: allocator arenas, thread caches and buffers reach their working size.
        for i in range(300):
            if i % 3 == 0:
                self.assertOk(self.infer("fashion_cnn", good))
            else:
                self.send_bad(session, cases[i % len(cases)])
        time.sleep(0.2)
        rss_before = self.server.rss_kb()
        start = time.monotonic()
        for i in range(3000):
            self.send_bad(session, cases[i % len(cases)])
        elapsed = time.monotonic() - start
        session.close()
        time.sleep(0.2)
        rss_after = self.server.rss_kb()
        self.assertServerAnswers()
        after = output_array(self.assertOk(self.infer("fashion_cnn", good)), "logits")
        np.testing.assert_allclose(after, reference, rtol=1e-5, atol=1e-5)
        growth = (rss_after - rss_before) / rss_before
        print(f"\n  3000 bad requests in {elapsed:.1f} s; RSS {rss_before} kB -> {rss_after} kB "
              f"({growth:+.1%})", end=" ")
        self.assertLess(growth, 0.10, f"RSS grew from {rss_before} kB to {rss_after} kB")


class ConcurrencyTest(ServerTestCase):
    models = ("fashion_cnn",)
    server_args = ("--http-threads", "2")

    def test_no_cross_talk_between_concurrent_requests(self):
        images, _ = fashion_test_set()
        n_good_threads, n_bad_threads, per_thread = 13, 3, 6
        rng = np.random.default_rng(11)
        # Every good thread sends its own images: request k of thread t holds 1..4 images.
        plans = []
        next_index = 0
        for t in range(n_good_threads):
            plan = []
            for k in range(per_thread):
                rows = int(rng.integers(1, 5))
                idx = [(next_index + j) % len(images) for j in range(rows)]
                next_index += rows
                plan.append((f"t{t}-r{k}", idx))
            plans.append(plan)
        used = sorted({i for plan in plans for _, idx in plan for i in idx})
        alone = {}
        for i in used:
            alone[i] = output_array(self.assertOk(self.infer("fashion_cnn", image_request(images[i:i + 1]))),
                                    "logits")[0]
        bad_cases = bad_requests()
        barrier = threading.Barrier(n_good_threads + n_bad_threads)
        failures = []
        results = {}

        def good_worker(plan):
            session = requests.Session()
            try:
                barrier.wait(timeout=30)
                for rid, idx in plan:
                    r = session.post(self.url("/v2/models/fashion_cnn/infer"),
                                     data=json.dumps(image_request(images[idx], request_id=rid)),
                                     timeout=60)
                    if r.status_code != 200:
                        failures.append(f"{rid}: {r.status_code} {r.text[:200]}")
                        continue
                    results[rid] = (idx, r.json())
            except Exception as e:  # noqa: BLE001 - reported below
                failures.append(f"good worker: {e!r}")
            finally:
                session.close()

        def bad_worker(offset):
            session = requests.Session()
            try:
                barrier.wait(timeout=30)
                for k in range(per_thread):
                    method, path, body = bad_cases[(offset + k) % len(bad_cases)]
                    r = session.request(method, self.url(path), data=body, timeout=60)
                    if not 400 <= r.status_code < 500:
                        failures.append(f"bad request {path[:40]} {body[:40]!r}: {r.status_code}")
            except Exception as e:  # noqa: BLE001
                failures.append(f"bad worker: {e!r}")
            finally:
                session.close()

        threads = [threading.Thread(target=good_worker, args=(p,)) for p in plans]
        threads += [threading.Thread(target=bad_worker, args=(7 * b,)) for b in range(n_bad_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.assertFalse(any(t.is_alive() for t in threads), "client threads hung")
        self.assertEqual(failures, [])
        self.assertEqual(len(results), n_good_threads * per_thread)
        for rid, (idx, body) in results.items():
            self.assertEqual(body.get("id"), rid)
            logits = output_array(body, "logits")
            self.assertEqual(logits.shape, (len(idx), 10), rid)
            for row, i in enumerate(idx):
                np.testing.assert_allclose(logits[row], alone[i], rtol=1e-3, atol=1e-3,
                                           err_msg=f"{rid} row {row} (t10k image {i})")

    def test_slow_and_vanishing_clients(self):
        host, port = self.server.host, self.server.port
        images, _ = fashion_test_set()
        body = json.dumps(image_request(images[:1])).encode()
        head = (b"POST /v2/models/fashion_cnn/infer HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        reference = output_array(self.assertOk(self.infer("fashion_cnn", data=body)), "logits")

        # More stalled connections than HTTP threads: half a header, or headers and half a body.
        stalled = []
        for partial in (head[:20], head[:40], head + body[:100], head + body[: len(body) // 2]):
            s = socket.create_connection((host, port), timeout=10)
            s.sendall(partial)
            stalled.append(s)
        try:
            time.sleep(0.3)
            session = requests.Session()
            for i in range(20):
                t0 = time.monotonic()
                r = session.post(self.url("/v2/models/fashion_cnn/infer"), data=body, timeout=10)
                took = time.monotonic() - t0
                self.assertEqual(r.status_code, 200, r.text[:200])
                np.testing.assert_allclose(output_array(r.json(), "logits"), reference, rtol=1e-5, atol=1e-5)
                self.assertLess(took, 2.0, f"request {i} took {took:.2f} s while clients stalled")
            session.close()

            # Clients that send a whole request, or part of one, and vanish.
            for i in range(20):
                s = socket.create_connection((host, port), timeout=10)
                s.sendall(head + body if i % 2 == 0 else head + body[:50])
                if i % 4 == 0:  # abortive close (RST) for some
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
            time.sleep(0.5)
            self.assertServerAnswers()
            r = self.infer("fashion_cnn", data=body)
            np.testing.assert_allclose(output_array(self.assertOk(r), "logits"), reference,
                                       rtol=1e-5, atol=1e-5)
        finally:
            for s in stalled:
                s.close()


class IdlePollOffTest(ServerTestCase):
    """With the idle poll off, threads sleep in epoll as soon as they have nothing ready;
    answers and keep-alive are the same as with it on (every other class here)."""
    models = ("fashion_cnn",)
    server_args = ("--http-idle-poll-us", "0")

    def test_answers_match_one_connection_after_another(self):
        images, _ = fashion_test_set()
        first = output_array(self.assertOk(self.infer("fashion_cnn", image_request(images[:2]))),
                             "logits")
        for _ in range(5):  # the same keep-alive connection, idle between requests
            time.sleep(0.01)
            again = output_array(self.assertOk(self.infer("fashion_cnn", image_request(images[:2]))),
                                 "logits")
            np.testing.assert_allclose(again, first, rtol=1e-5, atol=1e-5)

    def test_a_negative_window_is_refused_and_named(self):
        r = subprocess.run([str(ferry_bin()), "serve", "--model-repository", "models",
                            "--http-port", "0", "--grpc-port", "-1", "--http-idle-poll-us", "-5"],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--http-idle-poll-us", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
