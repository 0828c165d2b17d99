"""Unit tests of bench/compare_lib/threads.py: roles, /proc stat parsing, the split."""

import os
import tempfile
import unittest
from pathlib import Path

from threads import parse_stat, role, snapshot, split


def stat_line(name: str, utime: int, stime: int) -> str:
    # Fields 3..13 are placeholders; 14 and 15 are utime and stime.
    middle = " ".join(["S"] + [str(i) for i in range(4, 14)])
    return f"1234 ({name}) {middle} {utime} {stime} 0 0 20 0 1 0\n"


class RoleTest(unittest.TestCase):
    def test_named_threads(self):
        self.assertEqual(role("http-io-0"), "http")
        self.assertEqual(role("http-io-11"), "http")
        self.assertEqual(role("w:fashion_cnn:1"), "workers")
        self.assertEqual(role("w:fashion_mlp_i"), "workers")  # cut at 15 bytes

    def test_everything_else_is_other(self):
        for name in ("ferry", "nexting_thread", "grpc_global_tim", "default-executo", "http",
                     "w", "xw:model"):
            self.assertEqual(role(name), "other", name)


class ParseStatTest(unittest.TestCase):
    def test_plain_name(self):
        self.assertEqual(parse_stat(stat_line("ferry", 118, 34)), (118, 34))

    def test_name_with_spaces_and_parentheses(self):
        self.assertEqual(parse_stat(stat_line("a) (b c", 7, 9)), (7, 9))

    def test_this_process(self):
        user, system = parse_stat(Path(f"/proc/{os.getpid()}/stat").read_text())
        self.assertGreaterEqual(user, 0)
        self.assertGreaterEqual(system, 0)


class SnapshotTest(unittest.TestCase):
    def test_reads_every_task_and_skips_broken_ones(self):
        with tempfile.TemporaryDirectory() as d:
            tasks = Path(d) / "42" / "task"
            for tid, name, u, s in ((42, "ferry", 1, 2), (43, "http-io-0", 30, 40)):
                (tasks / str(tid)).mkdir(parents=True)
                (tasks / str(tid) / "comm").write_text(name + "\n")
                (tasks / str(tid) / "stat").write_text(stat_line(name, u, s))
            (tasks / "44").mkdir()  # exited while read: no files
            self.assertEqual(snapshot(42, Path(d)),
                             {42: ("ferry", 1, 2), 43: ("http-io-0", 30, 40)})


class SplitTest(unittest.TestCase):
    def test_per_request_by_role_in_microseconds(self):
        before = {1: ("http-io-0", 100, 50), 2: ("http-io-1", 0, 0), 3: ("w:m:1", 10, 0),
                  4: ("ferry", 5, 5)}
        after = {1: ("http-io-0", 300, 150), 2: ("http-io-1", 100, 0), 3: ("w:m:1", 410, 20),
                 4: ("ferry", 5, 5), 5: ("nexting_thread", 10, 10)}  # 5 started meanwhile
        got = split(before, after, requests=1000, ticks_per_second=100)
        # 300 user ticks of HTTP = 3 s over 1000 requests = 3000 µs each.
        self.assertAlmostEqual(got["http"]["user"], 3000.0)
        self.assertAlmostEqual(got["http"]["system"], 1000.0)
        self.assertAlmostEqual(got["workers"]["user"], 4000.0)
        self.assertAlmostEqual(got["workers"]["system"], 200.0)
        self.assertAlmostEqual(got["other"]["user"], 100.0)
        self.assertAlmostEqual(got["other"]["system"], 100.0)

    def test_nothing_served_is_refused(self):
        with self.assertRaises(ValueError):
            split({}, {}, requests=0)


if __name__ == "__main__":
    unittest.main()
