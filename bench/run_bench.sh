#!/usr/bin/env bash
# The serving-core benchmark (c1 and c32 over HTTP/JSON against the in-process limit) is
# now one section of bench/compare, which measures it in the same run as gRPC, the binary
# extension, the FastAPI peer and the open loop. Same knobs (RUNS, DURATION, WARMUP,
# LIMIT_SECONDS, BATCH_SIZES, BUILD_DIR, OUT); see bench/compare --help.
exec "$(dirname "$0")/compare" "$@"
