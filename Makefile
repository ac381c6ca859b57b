# pigsty: build, test, bench. Every target installs what it needs by itself.
SHELL        := /bin/bash
TARGET       := x86_64-unknown-linux-musl
BIN          := target/pigsty
RELEASE_DIR  := target/release-assets
N            ?= 1
DISTRO       ?= bookworm
SUITES       ?= foundation singleton etcd dbcode ha+ha-mixed+ha-reverse redis monitor backup+rich repo security connect+singleton-trixie
export PATH  := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all build release deps test test-unit test-lab sandbox bench lab-down clean fmt lint

all: build

## deps: host packages for the lab and the musl target (idempotent)
deps:
	@tests/lab/deps.sh

## build: static x86_64 musl binary at target/pigsty (LTO, stripped)
build:
	@rustup target list --installed 2>/dev/null | grep -qx $(TARGET) || rustup target add $(TARGET)
	@command -v x86_64-linux-musl-gcc >/dev/null || tests/lab/deps.sh
	cargo build --release --locked --target $(TARGET)
	@cp target/$(TARGET)/release/pigsty $(BIN)
	@echo "built $(BIN): $$($(BIN) --version)"

## release: binary, its .sha256 and install.sh in target/release-assets/
release: build
	@mkdir -p $(RELEASE_DIR)
	@cp $(BIN) $(RELEASE_DIR)/pigsty-$(TARGET)
	@cd $(RELEASE_DIR) && sha256sum pigsty-$(TARGET) > pigsty-$(TARGET).sha256
	@cp assets/install.sh $(RELEASE_DIR)/install.sh
	@echo "release assets in $(RELEASE_DIR):" && ls -1 $(RELEASE_DIR)

## test: unit and CLI tests, then the lab suites on real Debian 12 and 13 nodes. While
## the static binary builds (its LTO step uses one core), the unit tests compile and, as
## root, the lab's base images (bookworm, trixie) build, both in the background.
test: deps
	@mkdir -p target; if [ "$$(id -u)" = 0 ]; then \
	  echo "lab base images: built in the background (target/lab-base.log)"; \
	  (tests/lab/lab.sh base bookworm && tests/lab/lab.sh base trixie) > target/lab-base.log 2>&1 & \
	fi; \
	echo "unit tests: compiled in the background (target/unit-build.log)"; \
	cargo test --locked --no-run > target/unit-build.log 2>&1 & u=$$!; \
	$(MAKE) --no-print-directory build; b=$$?; \
	wait $$u; w=$$?; [ $$w = 0 ] || tail -n 40 target/unit-build.log; \
	[ $$b = 0 ] && [ $$w = 0 ] && $(MAKE) --no-print-directory test-unit test-lab

## test-unit: cargo unit, snapshot and CLI tests (no root, no lab)
test-unit:
	cargo test --locked

## test-lab: lab suites (SUITES="foundation ..."), one lab shared by all suites; `a+b` runs
## two suites at the same time (they use different nodes)
test-lab: deps release
	tests/lab/run.sh $(SUITES)

## sandbox: N lab nodes (N=1 singleton, N=4 ha-full layout) with the binary pushed;
## DISTRO=trixie boots Debian 13 nodes (PostgreSQL 17, Patroni 4 from trixie's archive)
sandbox: deps build
	LAB_DISTRO=$(DISTRO) tests/lab/sandbox.sh $(N)

lab-down:
	tests/lab/lab.sh down

## bench: numbers, not pass/fail; printed and written to target/bench/*.json
bench: deps release
	tests/bench/run.sh

fmt:
	cargo fmt

lint:
	cargo clippy --all-targets -- -D warnings

clean:
	cargo clean
