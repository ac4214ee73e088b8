# A thin layer over CMake: the two commands of README.md.
#   make demo   set up, build, fetch CIFAR-10 if needed, run the demo job
#   make test   set up, build, run every test
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# The dataset: $CIFAR10_DIR if set, else data/cifar-10-batches-bin (fetched).
CIFAR10_DIR ?= $(CURDIR)/data/cifar-10-batches-bin
export CIFAR10_DIR

.PHONY: all deps build demo test data clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

data:
	@test -f "$(CIFAR10_DIR)/test_batch.bin" || scripts/get-cifar10.sh "$(dir $(CIFAR10_DIR))"

demo: build data
	@scripts/demo.sh $(BUILD)

test: build
	@cd $(BUILD) && ctest --output-on-failure --timeout 1800

clean:
	rm -rf $(BUILD)
