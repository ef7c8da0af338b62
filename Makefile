# The two commands of the README:
#   make run    build in Release and run the demo
#   make test   build and run every test, with the epoll and the poll backend
# CI (.ci/run) also runs test-asan (ASan+UBSan) and test-tsan (TSan).

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_FLAGS ?= --output-on-failure -j$(JOBS)
DEMO ?= echo_server
DEMO_ARGS ?=

.PHONY: all run test test-asan test-tsan coverage bench format format-check install clean

all:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build -j$(JOBS)

run:
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DMU_BUILD_TESTS=OFF
	cmake --build build-release -j$(JOBS) --target $(DEMO)
	./build-release/bin/$(DEMO) $(DEMO_ARGS)

# $(1): build dir, $(2): extra cmake flags
define build_and_test
	cmake -S . -B $(1) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(2)
	cmake --build $(1) -j$(JOBS)
	cd $(1) && MU_POLLER=epoll ctest $(CTEST_FLAGS)
	cd $(1) && MU_POLLER=poll ctest $(CTEST_FLAGS)
endef

test:
	$(call build_and_test,build,)

test-asan:
	$(call build_and_test,build-asan,-DMU_SANITIZE=address -DMU_BUILD_BENCH=OFF)

test-tsan:
	$(call build_and_test,build-tsan,-DMU_SANITIZE=thread -DMU_BUILD_BENCH=OFF)

# Line coverage of src/ by the whole suite (both pollers): a table per file.
coverage:
	bash tests/coverage/coverage.sh

bench:
	bash bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

install: all
	cmake --install build

clean:
	rm -rf build build-release build-asan build-tsan build-cov

# libFuzzer targets (fuzz/fuzz_*.c; clang installed by fuzz/run.sh if missing):
#   make fuzz      300 s per target (FUZZ_SECONDS to change)
#   make fuzz-ci   30 s per target, the short run CI can afford
.PHONY: fuzz fuzz-ci
FUZZ_SECONDS ?= 300

fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)

fuzz-ci:
	bash fuzz/run.sh 30
