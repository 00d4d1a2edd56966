# The two commands of the quick start, plus a few helpers.
BUILD ?= build
JOBS  ?= $(shell nproc)

.PHONY: deps build test demo demo-down trio bench clean format

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@bash examples/hello-federate/demo.sh $(BUILD)/src/cli/fedmesh

demo-down: build
	@$(BUILD)/src/cli/fedmesh down examples/hello-federate

trio: build
	@bash examples/trio/run.sh $(BUILD)/src/cli/fedmesh

bench: build
	@bash bench/run.sh $(BUILD)
	@bash bench/skills.sh $(BUILD)
	@$(BUILD)/bench/registry_query 200
	@bash bench/registry_load.sh $(BUILD) 1000 1000
	@bash bench/registry_mesh.sh $(BUILD) 4 16 64

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	@rm -rf $(BUILD)
