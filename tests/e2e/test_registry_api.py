"""The registry's REST API (/api/v1) and inference by alias against a real `ferry serve`:
the bundled `simple` model imported at first start, a copy of its model.pt registered as
version 2, `production` moved with compare-and-set, inference following the alias, the
audit log and its verification, a registration whose artifact does not load, and the
`ferry models` / `ferry audit` commands driven against the same server."""

import json
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import numpy as np
import requests

from server import (MODELS, FerryServer, ServerTestCase, copy_model, ferry_bin, require_models,
                    simple_request)
from test_grpc import GrpcTestCase


class RegistryApiTest(ServerTestCase):
    models = ("simple",)

    @classmethod
    def build_repository(cls, repo):
        copy_model(repo, "simple")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.scratch = Path(tempfile.mkdtemp(prefix="ferry-e2e-artifacts-"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.scratch, ignore_errors=True)
        super().tearDownClass()

    def api(self, method, path, body=None):
        return self.http.request(method, self.url("/api/v1" + path), json=body, timeout=60)

    def infer_version(self, version):
        a = np.arange(16)
        r = self.post(f"/v2/models/simple/versions/{version}/infer", body=simple_request(a, a))
        return r

    def register_copy(self):
        artifact = self.scratch / "model.pt"
        shutil.copy(MODELS / "simple" / "1" / "model.pt", artifact)
        return self.api("POST", "/models/simple/versions",
                        {"artifact_path": str(artifact), "tags": {"origin": "e2e"},
                         "lineage": {"code_revision": "e2e", "parent": {"version": 1}},
                         "reason": "a copy"})

    def test_1_bundled_models_are_listed(self):
        r = self.api("GET", "/models")
        self.assertEqual(r.status_code, 200, r.text)
        models = {m["name"]: m for m in r.json()["models"]}
        self.assertIn("simple", models)
        self.assertEqual(models["simple"]["aliases"], {"production": 1})
        r = self.api("GET", "/models/simple")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["versions"][0]["source"], "imported")
        r = self.api("GET", "/models/simple/versions/production")
        self.assertEqual(r.status_code, 200, r.text)
        v = r.json()
        self.assertEqual(v["version"], 1)
        self.assertEqual(v["state"], "active")
        self.assertTrue(any(f["path"] == "model.pt" and len(f["sha256"]) == 64 for f in v["files"]))
        self.assertError(self.api("GET", "/models/nope"), 404, mentions=["nope"])
        self.assertError(self.api("GET", "/releases"), 404, mentions=["no such endpoint"])

    def test_2_register_move_alias_infer_audit(self):
        r = self.register_copy()
        self.assertEqual(r.status_code, 201, r.text)
        v = r.json()
        self.assertEqual(v["version"], 2)
        self.assertEqual(v["parent"], {"model": "simple", "version": 1})
        self.assertEqual(v["ancestors"], [{"model": "simple", "version": 1}])
        # Version 2 serves by number; production still names 1.
        self.assertEqual(self.infer_version(2).json()["model_version"], "2")
        self.assertEqual(self.infer_version("production").json()["model_version"], "1")
        # Move production with the expected version; a stale expectation is refused.
        r = self.api("PUT", "/models/simple/aliases/production",
                     {"version": 2, "expected_version": 1, "reason": "e2e promote"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertError(self.api("PUT", "/models/simple/aliases/production",
                                  {"version": 1, "expected_version": 1}), 409)
        r = self.infer_version("production")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["model_version"], "2")
        self.assertEqual(self.get("/v2/models/simple/versions/production/ready").status_code, 200)
        self.assertError(self.infer_version("canary"), 404, mentions=["canary"])
        # Back again.
        self.assertEqual(self.api("PUT", "/models/simple/aliases/production",
                                  {"version": 1, "expected_version": 2}).status_code, 200)
        self.assertEqual(self.infer_version("production").json()["model_version"], "1")
        # The audit log has it all, and its chain verifies.
        r = self.api("GET", "/audit?model=simple&action=alias.set")
        self.assertEqual(r.status_code, 200, r.text)
        reasons = [e["reason"] for e in r.json()["entries"]]
        self.assertIn("e2e promote", reasons)
        r = self.api("GET", "/audit/verify")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertTrue(r.json()["ok"], r.text)
        self.assertError(self.api("GET", "/audit?limit=0"), 400, mentions=["limit"])

    def test_3_an_artifact_that_does_not_load_is_422(self):
        junk = self.scratch / "junk.pt"
        junk.write_bytes(b"this is not TorchScript")
        r = self.api("POST", "/models/simple/versions", {"artifact_path": str(junk)})
        self.assertError(r, 422, mentions=["failed to load"])
        bad = r.json()["version"]
        self.assertEqual(r.json()["state"], "archived")
        self.assertNotEqual(self.infer_version(bad).status_code, 200)
        self.assertNotEqual(self.get(f"/v2/models/simple/versions/{bad}/ready").status_code, 200)
        self.assertError(self.api("PUT", "/models/simple/aliases/production", {"version": bad}), 409)
        # The default version still answers.
        a = np.arange(16)
        r = self.post("/v2/models/simple/infer", body=simple_request(a, a))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertNotEqual(r.json()["model_version"], str(bad))

    def test_4_bad_requests(self):
        self.assertError(self.api("POST", "/models/simple/versions", {}), 400,
                         mentions=["artifact_path"])
        self.assertError(self.api("POST", "/models/simple/versions",
                                  {"artifact_path": str(self.scratch / "none.pt")}), 404)
        self.assertError(self.api("PUT", "/models/simple/aliases/production", {"version": "x"}),
                         400, mentions=["version"])
        self.assertError(self.api("PUT", "/models/simple/aliases/Prod", {"version": 1}), 400,
                         mentions=["alias"])
        r = self.api("PATCH", "/models/simple/aliases/production", {"version": 1})
        self.assertError(r, 405)
        self.assertEqual(r.headers.get("Allow"), "PUT, DELETE")

    def ferry(self, *args):
        p = subprocess.run([str(ferry_bin()), *args, "--url", self.base], capture_output=True,
                           text=True, timeout=120)
        return p

    def test_5_cli(self):
        if "models" not in subprocess.run([str(ferry_bin()), "--help"], capture_output=True,
                                          text=True).stdout:
            self.skipTest("this ferry has no `models` command")
        p = self.ferry("models", "list", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("simple", [m["name"] for m in json.loads(p.stdout)["models"]])
        p = self.ferry("models", "list")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("simple", p.stdout)
        p = self.ferry("models", "show", "simple", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["name"], "simple")
        p = self.ferry("audit", "verify", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(json.loads(p.stdout)["ok"])
        p = self.ferry("audit", "list", "--model", "simple", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(json.loads(p.stdout)["entries"])
        p = self.ferry("models", "show", "nope")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("nope", p.stderr)
        # Register a copy, move production to it with the expected version, read its lineage.
        artifact = self.scratch / "cli" / "model.pt"
        artifact.parent.mkdir(exist_ok=True)
        shutil.copy(MODELS / "simple" / "1" / "model.pt", artifact)
        lineage = self.scratch / "lineage.json"
        lineage.write_text(json.dumps({"code_revision": "cli", "parent": {"version": 1}}))
        p = self.ferry("models", "register", "simple", "--artifact", str(artifact),
                       "--lineage", str(lineage), "--tag", "via=cli", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        registered = json.loads(p.stdout)
        self.assertEqual(registered["tags"], {"via": "cli"})
        n = registered["version"]
        current = self.api("GET", "/models/simple").json()["aliases"]["production"]
        p = self.ferry("models", "alias", "simple", "production", str(n),
                       "--expected", str(current + 100))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("409", p.stderr)
        p = self.ferry("models", "alias", "simple", "production", str(n), "--expected", str(current))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"production -> {n}", p.stdout)
        self.assertEqual(self.infer_version("production").json()["model_version"], str(n))
        p = self.ferry("models", "lineage", "simple", "production")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"simple version {n}", p.stdout)
        self.assertIn("derived from\nsimple version 1", p.stdout)
        p = self.ferry("audit", "list", "--action", "alias.set")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("alias.set", p.stdout)
        p = self.ferry("audit", "verify")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith("ok:"), p.stdout)
        p = self.ferry("models", "register", "simple", "--artifact", str(artifact), "--tag", "bad")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--tag", p.stderr)


class RegistryRestartTest(unittest.TestCase):
    """The first start imports; a restart on the same database imports nothing more and
    keeps an alias moved before it."""

    def test_restart_keeps_the_registry(self):
        require_models("simple")
        tmp = Path(tempfile.mkdtemp(prefix="ferry-e2e-registry-restart-"))
        try:
            repo = tmp / "repo"
            repo.mkdir()
            copy_model(repo, "simple")
            (repo / "simple" / "2").mkdir()
            shutil.copy(MODELS / "simple" / "1" / "model.pt", repo / "simple" / "2" / "model.pt")
            args = ["--registry-db", str(tmp / "registry.db")]
            server = FerryServer(repo, args, name="RegistryRestartTest").start()
            try:
                base = server.base_url + "/api/v1"
                self.assertEqual(requests.get(base + "/models/simple").json()["aliases"],
                                 {"production": 2})
                r = requests.put(base + "/models/simple/aliases/production",
                                 json={"version": 1, "expected_version": 2})
                self.assertEqual(r.status_code, 200, r.text)
                rows = len(requests.get(base + "/audit").json()["entries"])
            finally:
                self.assertIsNone(server.stop())
            server = FerryServer(repo, args, name="RegistryRestartTest").start()
            try:
                base = server.base_url + "/api/v1"
                self.assertEqual(requests.get(base + "/models/simple").json()["aliases"],
                                 {"production": 1})
                self.assertEqual(len(requests.get(base + "/audit").json()["entries"]), rows)
                self.assertTrue(requests.get(base + "/audit/verify").json()["ok"])
                a = np.arange(16)
                r = requests.post(server.base_url + "/v2/models/simple/versions/production/infer",
                                  json=simple_request(a, a))
                self.assertEqual(r.json()["model_version"], "1")
            finally:
                self.assertIsNone(server.stop())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class GrpcAliasTest(GrpcTestCase):
    """gRPC's model_version takes an alias as the REST path does."""
    models = ("simple",)

    def test_model_version_alias(self):
        import grpc
        req = self.simple_request(np.arange(16), np.arange(16), raw=False)
        req.model_version = "production"
        resp = self.stub.ModelInfer(req, timeout=30)
        self.assertEqual(resp.model_version, "1")
        req.model_version = "canary"
        with self.assertRaises(grpc.RpcError) as caught:
            self.stub.ModelInfer(req, timeout=30)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertIn("canary", caught.exception.details())


if __name__ == "__main__":
    unittest.main()
