# flowsql: `make demo` and `make test` set up everything from nothing.
BUILD ?= build
JOBS ?= 2
PY := .venv/bin/python

.PHONY: setup build demo test test-unit test-sql test-diff test-integration test-asan bench format clean

setup:
	@scripts/setup.sh

$(BUILD)/build.ninja: CMakeLists.txt | setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

# Builds everything, and points the .venv's `import flowsql` at this build.
build: setup $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)
	@scripts/install_python.sh $(BUILD)

demo: build
	@scripts/demo.sh $(BUILD)/flowsql

test: build
	@scripts/test.sh $(BUILD)

test-asan: setup
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFLOWSQL_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)
	FLOWSQL_SANITIZED=1 ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  scripts/test.sh build-asan

bench: build
	bench/setup.sh
	$(PY) bench/run.py

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf $(BUILD) build-asan build-wheel
