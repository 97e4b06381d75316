# tinkerc — the README's two commands, and a few conveniences.
#
#   make test     install what is missing, build (warnings are errors), run every test, then the
#                 unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer
#   make demo     install what is missing, build, fine-tune a small model on the embedded engine
#
#   make build    configure + build into build/ (Release, -Werror)
#   make asan     build the sanitizer tree build-asan/ and run the unit tests there
#   make fuzz-smoke   build the libFuzzer targets with clang and run each for a few seconds
#   make bench    build and run the benchmarks (installs the reference side: PyTorch, ...)
#   make clean

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=
FUZZ_SECONDS ?= 10
BENCH      ?=

.PHONY: all deps build test asan unit-asan demo fuzz fuzz-smoke bench clean

all: build

deps:
	@scripts/install-deps.sh

# Configuring every time is cheap and picks up layers added since the last build.
build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DTK_WERROR=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTK_WERROR=ON -DTK_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest -L unit --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# The full suite on the release build first, then the unit tests under the sanitizers; the
# sanitizer run comes last so the log ends with a CTest summary line.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)
	$(MAKE) --no-print-directory asan

demo: build
	@scripts/demo.sh

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTK_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

fuzz-smoke: fuzz
	@scripts/fuzz-smoke.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: build
	@scripts/install-deps.sh --bench
	@scripts/bench.sh $(BUILD) $(BENCH)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
