#!/usr/bin/python3
"""Clang's thread-safety analysis over Ferry's sources: a missing lock fails the build.

ABSL_GUARDED_BY and friends are only checked by clang's -Wthread-safety, and Ferry builds
with g++. This runs clang++ -fsyntax-only (the analysis lives in the front end, so no
code is generated) over every .cc under src/, with the include paths and definitions of
the real build taken from its compile_commands.json. ctest runs it as `thread_safety`.

Usage: check_thread_safety.py --build-dir build [--clang clang++-14] [--jobs 2] [FILE...]
"""

import argparse
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys
import time

# What is not checked, and why. Every .cc under src/ is either checked or named here (or
# under a directory named here); the run prints this list, so nothing is skipped silently.
EXCLUDED_DIRS = {
    "src/backends/torch/": "includes libtorch (this check covers the libraries that do not); "
                           "it guards no state with a lock (one std::call_once)",
}
# Single files left out, with the reason; diagnostics located in them are tolerated (a
# header here may be included by checked files). Empty: every file is on absl::Mutex.
EXCLUDED_FILES = {}

# A test file is checked when it declares locks of its own (fakes with guarded state); one
# without can reach guarded state only through the library functions it calls, and those
# are checked in the libraries' files. Checking every test takes about twice as long
# (gtest and gmock are heavy to parse); --all does it.
OWN_LOCKS = re.compile(r"absl::Mutex|ABSL_[A-Z_]*(GUARDED|LOCK)")

# Only the analysis: the build's own warnings come from g++ and are not clang's business.
CLANG_FLAGS = ["-fsyntax-only", "-ferror-limit=0", "-Wno-everything",
               "-Wthread-safety", "-Werror=thread-safety"]
# "path:line:col: error: message [-Werror,-Wthread-safety-analysis]"
DIAGNOSTIC = re.compile(r"^(?P<path>[^:\s]+):\d+:\d+: (?P<level>warning|error): .*?"
                        r"(?P<flag>\[-W[^\]]*thread-safety[^\]]*\])?$")


def clang_args(entry, source_dir):
    """The build's command for one file, turned into a clang syntax-only check."""
    args = entry.get("arguments") or shlex.split(entry["command"])
    out = []
    skip = False
    for arg in args[1:]:  # args[0] is the build's compiler
        if skip:
            skip = False
            continue
        if arg in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
            continue
        if arg in ("-c", "-MD", "-MMD") or arg.startswith("-W") or arg == entry["file"]:
            continue
        out.append(arg)
    return out + CLANG_FLAGS + [entry["file"]]


def relative(path, source_dir):
    path = os.path.realpath(path)
    return os.path.relpath(path, source_dir) if path.startswith(source_dir + os.sep) else path


def check(clang, entry, source_dir):
    """Returns (file, failed, tolerated, output)."""
    start = time.monotonic()
    proc = subprocess.run([clang] + clang_args(entry, source_dir), cwd=entry["directory"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    failed = False
    tolerated = 0
    for line in proc.stdout.splitlines():
        m = DIAGNOSTIC.match(line)
        if not m:
            continue
        where = relative(os.path.join(entry["directory"], m.group("path")), source_dir)
        if where in EXCLUDED_FILES and m.group("flag"):
            tolerated += 1
        elif m.group("level") == "error" or m.group("flag"):
            failed = True
    # A non-zero exit with no diagnostic we understood (a crash, a bad flag) fails too.
    if proc.returncode != 0 and not failed and tolerated == 0:
        failed = True
    return entry["file"], failed, tolerated, proc.stdout, time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", required=True, help="holds compile_commands.json")
    parser.add_argument("--source-dir", default=os.path.dirname(os.path.dirname(
        os.path.realpath(__file__))))
    parser.add_argument("--clang", default="clang++")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--times", action="store_true", help="print each file's seconds")
    parser.add_argument("--all", action="store_true", help="check tests without locks too")
    parser.add_argument("files", nargs="*", help="only these (paths under src/)")
    args = parser.parse_args()
    source_dir = os.path.realpath(args.source_dir)

    if not args.clang or args.clang.endswith("NOTFOUND"):
        sys.exit("thread-safety: clang++ not found; install Debian's clang (make deps)")
    commands_path = os.path.join(args.build_dir, "compile_commands.json")
    try:
        with open(commands_path) as f:
            commands = json.load(f)
    except OSError as e:
        sys.exit(f"thread-safety: cannot read {commands_path} ({e}); configure with CMake first")

    by_file = {}
    for entry in commands:
        rel = relative(os.path.join(entry["directory"], entry["file"]), source_dir)
        by_file.setdefault(rel, entry)  # a file in two targets has the same flags here

    sources = []
    for root, _, names in os.walk(os.path.join(source_dir, "src")):
        sources += [relative(os.path.join(root, n), source_dir) for n in names if n.endswith(".cc")]
    wanted = [os.path.normpath(f) for f in args.files] or sorted(sources)

    to_check, missing, lockless_tests = [], [], []
    for rel in wanted:
        if rel in EXCLUDED_FILES or any(rel.startswith(d) for d in EXCLUDED_DIRS):
            continue
        if rel.endswith("_test.cc") and not args.all and not args.files:
            with open(os.path.join(source_dir, rel)) as f:
                if not OWN_LOCKS.search(f.read()):
                    lockless_tests.append(rel)
                    continue
        if rel in by_file:
            to_check.append(by_file[rel])
        else:
            missing.append(rel)
    build_dir = os.path.realpath(args.build_dir) + os.sep
    generated = sorted(f for f in by_file
                       if os.path.realpath(os.path.join(source_dir, f)).startswith(build_dir))

    print("thread-safety: not checked:")
    for name, why in sorted({**EXCLUDED_DIRS, **EXCLUDED_FILES}.items()):
        print(f"  {name}: {why}")
    if lockless_tests:
        print(f"  {len(lockless_tests)} tests that declare no lock of their own (--all checks "
              f"them): {' '.join(os.path.basename(t) for t in lockless_tests)}")
    print(f"  {len(generated)} generated files (protoc's gRPC code in the build tree; "
          "their headers are still parsed by the files that include them)")
    if missing:
        # A source without a compile command is not in any target: check it or list it above.
        for rel in missing:
            print(f"thread-safety: FAILED: {rel} has no entry in {commands_path}")
        return 1

    start = time.monotonic()
    failures, tolerated = [], 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        jobs = [pool.submit(check, args.clang, e, source_dir) for e in to_check]
        for job in concurrent.futures.as_completed(jobs):
            path, failed, tolerated_here, output, seconds = job.result()
            tolerated += tolerated_here
            if args.times:
                print(f"{seconds:6.1f} s  {relative(path, source_dir)}")
            if failed:
                failures.append(relative(path, source_dir))
                print(output, end="")
    elapsed = time.monotonic() - start
    print(f"thread-safety: {len(to_check)} files checked with {args.clang} in {elapsed:.0f} s; "
          f"{tolerated} diagnostics tolerated in the files not yet converted")
    if failures:
        print(f"thread-safety: FAILED in {len(failures)} file(s): {', '.join(sorted(failures))}")
        print("thread-safety: take the lock the message names (absl::MutexLock), or annotate "
              "the function with ABSL_EXCLUSIVE_LOCKS_REQUIRED if its callers hold it")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
