# The two commands of the quick start, plus a few helpers.
BUILD ?= build
JOBS  ?= $(shell nproc)
# `make test` (and .ci/run) builds and runs the suite under AddressSanitizer and
# UndefinedBehaviorSanitizer, in its own tree; `make test-release` runs the same suite on the
# optimized tree that the demo and the benchmarks use. UBSan's null and alignment checks are
# off: together they made the sanitized build 1.7 times slower to compile, a null dereference
# still stops the process under ASan, and x86-64 has no alignment faults (docs/reliability.md).
TEST_BUILD ?= build-asan
SANITIZE   ?= -fsanitize=address,undefined -fno-sanitize=null,alignment -fno-omit-frame-pointer
SAN_ENV     = ASAN_OPTIONS=detect_leaks=1 \
              LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizers/lsan.supp \
              UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: deps demo-deps build demo-build test-build test test-release lint asan tsan fuzz demo demo-down trio trio-down shared-data shared-data-down \
        federated-housing federated-housing-down bench soak testssl clean format

# Everything: build, tests (PostgreSQL, Chromium, promtool), benchmarks.
deps:
	@bash scripts/install-deps.sh all

# What building and running the binary needs, nothing more.
demo-deps:
	@bash scripts/install-deps.sh build

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFEDMESH_TESTS=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Only the fedmesh binary; a build folder configured before keeps its tests.
demo-build: demo-deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  $(if $(wildcard $(BUILD)/CMakeCache.txt),,-DFEDMESH_TESTS=OFF) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target fedmesh

# Everything (tests, fuzz corpus drivers, benchmarks) with ASan and UBSan at -O1 with line
# tables, asserts on. ccache shares nothing with build/ (other flags).
test-build: deps
	@cmake -S . -B $(TEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFEDMESH_TESTS=ON \
	  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DCMAKE_CXX_FLAGS="$(SANITIZE)" \
	  -DCMAKE_EXE_LINKER_FLAGS="$(SANITIZE)" -DCMAKE_SHARED_LINKER_FLAGS="$(SANITIZE)" >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)

# Every test under ASan + UBSan: any report (a leak but for tests/sanitizers/lsan.supp, any
# undefined behaviour) stops the process that made it, so its test fails.
# A skipped test fails the run too (a check that cannot run here proves nothing).
test: test-build
	@cd $(TEST_BUILD) && { $(SAN_ENV) ctest --output-on-failure -j $(JOBS); echo $$? > ctest.rc; } | tee ctest.log
	@rc=$$(cat $(TEST_BUILD)/ctest.rc); if [ "$$rc" != 0 ]; then exit $$rc; fi; \
	  if grep -E '\*\*\*Skipped|Not Run' $(TEST_BUILD)/ctest.log; then \
	    echo "make test: the tests above were skipped; a skipped test fails the run" >&2; exit 1; fi

asan: test

# The same suite on the optimized tree (quicker to build after a change).
test-release: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# clang-tidy over src/ with the checks in .clang-tidy, on the test tree's compile commands;
# any warning fails (about 5 min on 2 cores).
lint: test-build
	@run-clang-tidy -quiet -p $(TEST_BUILD) -j $(JOBS) '$(CURDIR)/src/.*\.cpp$$' > $(TEST_BUILD)/lint.log 2>&1; \
	  if grep -qE "(warning|error):" $(TEST_BUILD)/lint.log; then grep -E "(warning|error):" $(TEST_BUILD)/lint.log | sort -u; exit 1; fi
	@echo "lint: clean ($$(grep -c '^clang-tidy' $(TEST_BUILD)/lint.log) files)"

# The whole suite under ThreadSanitizer, in its own tree (docs/reliability.md has its result).
tsan: deps
	@cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFEDMESH_TESTS=ON \
	  -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer -O1" \
	  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
	@cmake --build build-tsan -j $(JOBS)
	@cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/sanitizers/tsan.supp" \
	  ctest --output-on-failure -j $(JOBS)

# Coverage-guided fuzzing (tests/fuzz/README.md): libFuzzer targets built by clang-14 with
# ASan and UBSan in their own tree, each run FUZZ_SECONDS over a copy of its checked-in
# corpus (build-fuzz/corpus/NAME, kept between runs; tests/fuzz/corpus/ stays as it is),
# one per core at a time (tests/fuzz/run.sh). Crashes, leaks and timeouts land in
# build-fuzz/artifacts/NAME/; any of them fails the run.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= http_request config_toml config_yaml package lua_json hello registry_register mesh_sync kodo \
                query deltas jobs_artifact jobs_result csv data_filter

fuzz: deps
	@CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DFEDMESH_TESTS=ON -DFEDMESH_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@echo "| target | time | executions | exec/s | coverage (edges) | features | corpus | result |"
	@echo "|---|---|---|---|---|---|---|---|"
	@printf '%s\n' $(FUZZ_TARGETS) | xargs -P $(JOBS) -I{} bash tests/fuzz/run.sh {} $(FUZZ_SECONDS)

demo: demo-build
	@bash examples/hello-federate/demo.sh $(BUILD)/src/cli/fedmesh

demo-down: demo-build
	@$(BUILD)/src/cli/fedmesh down examples/hello-federate

trio: demo-build
	@bash examples/trio/run.sh $(BUILD)/src/cli/fedmesh

trio-down:
	@bash examples/trio/run.sh $(BUILD)/src/cli/fedmesh stop

# Three organizations share shipments over a line of nodes (examples/shared-data/README.md).
shared-data: demo-build
	@bash examples/shared-data/run.sh $(BUILD)/src/cli/fedmesh

shared-data-down: demo-build
	@bash examples/shared-data/run.sh $(BUILD)/src/cli/fedmesh down

# An aggregator and three clients with private California housing splits run federated
# statistics and models; only aggregates leave a client (examples/federated-housing/README.md).
federated-housing: demo-build
	@bash examples/federated-housing/run.sh $(BUILD)/src/cli/fedmesh

federated-housing-down: demo-build
	@bash examples/federated-housing/run.sh $(BUILD)/src/cli/fedmesh down

bench: build
	@bash bench/run.sh $(BUILD)
	@bash bench/skills.sh $(BUILD)
	@$(BUILD)/bench/registry_query 200
	@bash bench/registry_load.sh $(BUILD) 1000 1000
	@bash bench/registry_mesh.sh $(BUILD) 4 16 64
	@$(BUILD)/bench/data_ingest 100000
	@python3 bench/data_network.py $(BUILD) 100000
	@$(BUILD)/bench/jobs_bench 40
	@/usr/bin/python3 bench/soak.py $(BUILD) 120

# One hour of mixed load on hello-federate plus a registry; the plot goes to docs/ (docs/reliability.md).
SOAK_SECONDS ?= 3600
soak: build
	@/usr/bin/python3 bench/soak.py $(BUILD) $(SOAK_SECONDS) docs/soak.png $(BUILD)/soak.csv

# testssl.sh and curl against a node's federation and operator listeners (docs/security.md).
testssl: build
	@bash bench/testssl.sh $(BUILD)

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	@rm -rf $(BUILD)
