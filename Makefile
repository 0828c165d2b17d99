# Ferry: `make serve` and `make test` work on a fresh Debian 12 machine.
# Both install whatever Debian packages are missing (apt-get), then build with CMake + Ninja.

BUILD_DIR ?= build
PORT ?= 8000
HOST ?= 0.0.0.0
CMAKE_BUILD_TYPE ?= Release

# Everything the build, the server and the tests need. Training the bundled models
# needs more (see `make models`), but their artifacts are committed.
DEPS := cmake ninja-build ccache g++ pkg-config \
        libtorch-dev libopenblas0-pthread libtcmalloc-minimal4 libxgboost-dev \
        libboost1.81-dev libboost-json1.81-dev libabsl-dev \
        libcli11-dev libtomlplusplus-dev libspdlog-dev \
        libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev libssl-dev \
        libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc \
        python3-grpcio python3-grpc-tools python3-protobuf gnuplot-nox \
        python3 python3-requests python3-numpy dataset-fashion-mnist \
        prometheus wrk clang libsqlite3-dev
# clang: only for the thread-safety check in `make test` (tools/check_thread_safety.py).
# fashion_xgb trains through libxgboost0's C API (tools/xgboost_capi.py): Debian's
# python3-xgboost needs python3-scipy -> python3-pythran -> libboost-dev (1.74), which
# conflicts with libboost1.81-dev above, so apt cannot install it beside Ferry's deps.
MODEL_DEPS := python3-torch python3-numpy libxgboost0 dataset-fashion-mnist
# What bench/compare needs beyond the build: the FastAPI peer (PyTorch behind uvicorn, with
# the uvloop + httptools speedups), gnuplot for the plot and the test images it sends.
BENCH_DEPS := python3-fastapi python3-uvicorn python3-uvloop python3-httptools \
              python3-torch python3-numpy gnuplot-nox dataset-fashion-mnist

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# ccache keys on compiler command lines, which name the source tree's absolute path; with
# the tree as its base directory those paths become relative, so every clone of Ferry on
# this machine (CI's included) reuses the objects another clone compiled.
export CCACHE_BASEDIR ?= $(CURDIR)

.PHONY: all deps build serve test bench bench-deps models release-sim clean

all: build

# Installs only what is missing, so a machine that has everything skips apt entirely.
deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE)
	cmake --build $(BUILD_DIR)

serve: build
	$(BUILD_DIR)/ferry serve --model-repository models --host $(HOST) --http-port $(PORT)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 900

bench-deps:
	@missing=$$(for p in $(BENCH_DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; fi

# Ferry against the in-process limit and the FastAPI peer; writes docs/benchmarks.md
# (about 20 minutes; SMOKE=1 for a 2-minute check that writes into bench/results/).
bench: build bench-deps
	BUILD_DIR=$(BUILD_DIR) bench/compare

# The release judge over seeded simulated traffic: the targets' table in docs/releases.md
# (about a minute on 2 cores; `ctest -R release_sim` runs a short version).
release-sim: build
	$(BUILD_DIR)/release_sim --seed 18 --out docs/releases.md

# Retrains the bundled models from Debian's Fashion-MNIST (fixed seeds; a few minutes).
models:
	@missing=$$(for p in $(MODEL_DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; fi
	/usr/bin/python3 tools/train_models.py --out models
	/usr/bin/python3 tools/make_mc_dropout.py --out models
	/usr/bin/python3 tools/make_examples.py

clean:
	rm -rf $(BUILD_DIR)
