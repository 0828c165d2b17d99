"""Model repositories with broken models, and a model whose queue is tiny."""

import concurrent.futures
import json
import os
import re
import time
import unittest

import numpy as np
import requests

from server import ServerTestCase, copy_model, output, simple_config, simple_request


class BrokenRepositoryTest(ServerTestCase):
    """One good model beside broken ones: the server starts, the good one serves, each
    broken one is not ready, and the log names the file and the problem."""

    # name -> (what the log must say, besides the name of the file)
    BROKEN = {
        "bad_value": ["config.toml", "max_queue_size", "at least 1"],
        "unknown_key": ["config.toml", "colour", "unknown key"],
        "bad_toml": ["config.toml"],
        "missing_model_pt": ["model.pt"],
        "garbage_model_pt": ["model.pt"],
        "wrong_signature": ["model.pt"],
    }

    @classmethod
    def required_models(cls):
        return ("simple",)

    @classmethod
    def build_repository(cls, repo):
        copy_model(repo, "simple", "good")
        copy_model(repo, "simple", "bad_value", config=simple_config(max_queue_size=0))
        copy_model(repo, "simple", "unknown_key",
                   config=simple_config(extra_batching='colour = "blue"'))
        copy_model(repo, "simple", "bad_toml", config=simple_config() + "\n[execution\nworkers = \n")
        copy_model(repo, "simple", "missing_model_pt", with_model_pt=False)
        copy_model(repo, "simple", "garbage_model_pt", model_pt=os.urandom(4096))
        # A real TorchScript file that returns two tensors where the config lists one.
        copy_model(repo, "simple", "wrong_signature", config=simple_config(outputs=("OUTPUT0",)))

    def test_good_model_serves(self):
        a = np.arange(16)
        body = self.assertOk(self.infer("good", simple_request(a, 2 * a)))
        self.assertEqual(output(body, "OUTPUT0")["data"], (3 * a).tolist())
        self.assertEqual(self.get("/v2/models/good/ready").status_code, 200)
        self.assertEqual(self.get("/v2/health/ready").status_code, 200)

    def test_broken_models_are_not_ready(self):
        for name in self.BROKEN:
            with self.subTest(model=name):
                r = self.get(f"/v2/models/{name}/ready")
                self.assertNotEqual(r.status_code, 200, f"{name}: {r.text[:200]}")
                self.assertIn(r.status_code, (400, 404, 503), f"{name}: {r.text[:200]}")
                a = np.arange(16)
                r = self.infer(name, simple_request(a, a))
                self.assertIn(r.status_code, (400, 404, 503), f"{name} infer: {r.text[:200]}")
                self.assertTrue(r.json().get("error"), r.text[:200])

    def test_log_names_file_and_problem(self):
        log = self.server.log()
        lines = log.splitlines()
        for name, words in self.BROKEN.items():
            with self.subTest(model=name):
                mentioning = [l for l in lines if re.search(rf"\b{name}\b", l)]
                self.assertTrue(mentioning, f"no log line names {name}; log:\n{log[-3000:]}")
                for word in words:
                    self.assertTrue(any(word in l for l in mentioning),
                                    f"the log lines about {name} should say {word!r}:\n" + "\n".join(mentioning))


class QueueFullTest(ServerTestCase):
    """max_queue_size 1 and a long batching window: concurrent requests beyond what one
    batch and the queue hold are rejected at once with 503 + Retry-After."""

    @classmethod
    def required_models(cls):
        return ("simple",)

    @classmethod
    def build_repository(cls, repo):
        copy_model(repo, "simple", "tiny", config=simple_config(
            max_batch_size=8, max_queue_delay_us=2000000, preferred=(), max_queue_size=1, workers=1))

    def test_queue_full_gives_503_with_retry_after(self):
        a = np.arange(48).reshape(3, 16)   # 3 rows: at most 2 requests fit in a batch of 8
        body = json.dumps(simple_request(a, a))

        def send(i):
            with requests.Session() as s:
                t0 = time.monotonic()
                r = s.post(self.url("/v2/models/tiny/infer"), data=body, timeout=60)
                return r, time.monotonic() - t0

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(send, range(8)))
        statuses = [r.status_code for r, _ in results]
        self.assertTrue(set(statuses) <= {200, 503}, f"statuses {statuses}: "
                        + "; ".join(r.text[:100] for r, _ in results if r.status_code not in (200, 503)))
        rejected = [(r, t) for r, t in results if r.status_code == 503]
        accepted = [r for r, _ in results if r.status_code == 200]
        self.assertTrue(rejected, f"expected some 503s, got {statuses}")
        self.assertTrue(accepted, f"expected some 200s, got {statuses}")
        for r, took in rejected:
            retry = r.headers.get("Retry-After")
            self.assertIsNotNone(retry, f"503 without Retry-After: {dict(r.headers)}")
            self.assertRegex(retry, r"^\d+$")
            self.assertTrue(r.json().get("error"), r.text)
            self.assertLess(took, 1.5, "a full queue must reject at once, not after the batching window")
        for r in accepted:
            self.assertEqual(output(r.json(), "OUTPUT0")["data"], (2 * a).reshape(-1).tolist())
        # Once the queue drains, the model serves again.
        r = self.infer("tiny", data=body)
        self.assertEqual(r.status_code, 200, r.text[:200])


if __name__ == "__main__":
    unittest.main()
