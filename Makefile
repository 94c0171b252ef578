# echod - a thin front over cmake, ctest, helm and podman. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
IMG ?= echod:dev
ECHOD_ARGS ?=
CTEST_ARGS ?=

CMAKE_CONFIGURE = cmake -S . -B $(1) -DCMAKE_BUILD_TYPE=$(2) $(3) >/dev/null

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install the Debian packages needed to build (idempotent)
	@scripts/deps.sh build

.PHONY: deps-all
deps-all: ## Install everything the whole test suite uses (idempotent)
	@scripts/deps.sh all

.PHONY: build
build: deps ## Build echod and echo-probe into build/bin/
	@echo ">> building ($(BUILD_TYPE)) in $(BUILD_DIR)"
	@$(call CMAKE_CONFIGURE,$(BUILD_DIR),$(BUILD_TYPE),)
	@cmake --build $(BUILD_DIR) -j $(JOBS)

.PHONY: run
run: build ## Build and run echod on its defaults in the foreground
	@echo ">> running $(BUILD_DIR)/bin/echod $(ECHOD_ARGS)"
	@exec $(BUILD_DIR)/bin/echod $(ECHOD_ARGS)

.PHONY: test
test: deps-all ## Install, build and run the whole suite: unit, integration, e2e, fault, sanitizers
	@$(MAKE) --no-print-directory build
	@echo ">> unit + integration + e2e + fault tests"
	@cd $(BUILD_DIR) && ctest --output-on-failure $(CTEST_ARGS)
	@$(MAKE) --no-print-directory test-asan test-tsan

.PHONY: test-unit
test-unit: build ## Unit tests only (no sockets beyond socketpair)
	@cd $(BUILD_DIR) && ctest --output-on-failure -L unit $(CTEST_ARGS)

.PHONY: test-integration
test-integration: build ## Integration tests against a real echod on ephemeral ports
	@cd $(BUILD_DIR) && ctest --output-on-failure -L integration $(CTEST_ARGS)

.PHONY: test-e2e
test-e2e: deps-all build ## End-to-end tier: Prometheus, blackbox, helm, podman, netns
	@cd $(BUILD_DIR) && ctest --output-on-failure -L e2e $(CTEST_ARGS)

.PHONY: test-fault
test-fault: build ## Fault tier: hostile clients, exhaustion, drain, fuzz replay, soak
	@cd $(BUILD_DIR) && ctest --output-on-failure -L fault $(CTEST_ARGS)

# Sanitizer findings must fail the test that caused them, in echod children too.
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

.PHONY: test-asan
test-asan: ## Unit + integration tests under ASan+UBSan
	@scripts/deps.sh build sanitize
	@echo ">> ASan+UBSan build in $(BUILD_DIR)-asan"
	@$(call CMAKE_CONFIGURE,$(BUILD_DIR)-asan,Debug,-DECHOD_SANITIZE=address -DECHOD_BUILD_BENCH=OFF)
	@cmake --build $(BUILD_DIR)-asan -j $(JOBS)
	@cd $(BUILD_DIR)-asan && $(SAN_ENV) ctest --output-on-failure -L 'unit|integration' $(CTEST_ARGS)

.PHONY: test-tsan
test-tsan: ## Unit + integration tests under TSan
	@scripts/deps.sh build sanitize
	@echo ">> TSan build in $(BUILD_DIR)-tsan"
	@$(call CMAKE_CONFIGURE,$(BUILD_DIR)-tsan,Debug,-DECHOD_SANITIZE=thread -DECHOD_BUILD_BENCH=OFF)
	@cmake --build $(BUILD_DIR)-tsan -j $(JOBS)
	@cd $(BUILD_DIR)-tsan && $(SAN_ENV) ctest --output-on-failure -L 'unit|integration' $(CTEST_ARGS)

.PHONY: clean
clean: ## Remove every build folder
	rm -rf $(BUILD_DIR) $(BUILD_DIR)-asan $(BUILD_DIR)-tsan

# --- bench ---
# Timed benchmarks are never part of `make test`. They build RelWithDebInfo into their own folder.
BENCH_BUILD_DIR ?= $(BUILD_DIR)-bench
BENCH = python3 bench/bench.py --bin-dir $(BENCH_BUILD_DIR)/bin

.PHONY: bench-build
bench-build:
	@scripts/deps.sh build bench
	@echo ">> building (RelWithDebInfo) in $(BENCH_BUILD_DIR)"
	@$(call CMAKE_CONFIGURE,$(BENCH_BUILD_DIR),RelWithDebInfo,-DECHOD_BUILD_TESTS=OFF)
	@cmake --build $(BENCH_BUILD_DIR) -j $(JOBS) --target echod echo-probe reference_echo reference_tls_echo bench_client

.PHONY: bench
bench: bench-build ## echod vs bench/reference_echo and the peers (PEERS=go,socat,asyncio,seed; ~10 min); JSON in bench/results/
	@$(BENCH) run

.PHONY: bench-quick
bench-quick: bench-build ## Smoke-run the benchmark: 1 repetition, 2 s per scenario (QUICK=1)
	@QUICK=1 $(BENCH) run

.PHONY: bench-monitor
bench-monitor: bench-build ## Cost of echo-probe monitor on 64 addresses: CPU % and RSS (DURATION=60 s)
	@bench/monitor_cost.sh $(BENCH_BUILD_DIR)/bin

.PHONY: bench-callgrind
bench-callgrind: bench-build ## Instructions (callgrind) and syscalls (strace, perf) per echoed message
	@$(BENCH) cost

.PHONY: bench-cost-conn
bench-cost-conn: bench-build ## The same per connection (connect, 64 B, close), plus native CPU per connection
	@$(BENCH) cost-conn

# Issue 13: this echod against itself at REV (default ed7191e, before fault injection), built by
# bench.py build-baseline from `git archive REV` into $(BENCH_BUILD_DIR)-baseline/. PEERS adds more.
REV ?= ed7191e
comma := ,
BASELINE_ENV = BASELINE_REV=$(REV) JOBS=$(JOBS)

.PHONY: bench-baseline-build
bench-baseline-build: bench-build
	@$(BASELINE_ENV) $(BENCH) build-baseline

.PHONY: bench-baseline
bench-baseline: bench-baseline-build ## echod vs echod at REV (default ed7191e) and the reference; paired echod/baseline table
	@$(BASELINE_ENV) PEERS=baseline$(if $(PEERS),$(comma)$(PEERS)) $(BENCH) run

.PHONY: bench-callgrind-baseline
bench-callgrind-baseline: bench-baseline-build ## bench-callgrind for echod, the REV build and the reference in one run
	@$(BASELINE_ENV) $(BENCH) cost --servers echod,baseline,reference

# Issue 12: TLS scenarios (tls_4k_c50, tls_bulk, tls_handshakes) against bench/reference_tls_echo,
# plus the plain scenarios with echod-tls-on (TLS on another port). TLS=only: just the TLS ones.
TLS ?= 1

.PHONY: bench-tls
bench-tls: bench-build ## TLS scenarios vs reference_tls_echo, plain ones with TLS on another port (TLS=only: TLS alone)
	@TLS=$(TLS) PEERS=echod-tls-on$(if $(PEERS),$(comma)$(PEERS)) $(BENCH) run

.PHONY: bench-callgrind-tls
bench-callgrind-tls: bench-build ## Instructions and syscalls per TLS 4 KiB message and per full handshake, echod vs reference_tls_echo
	@$(BENCH) cost-tls

# --- shipping ---
TOOLS_DIR ?= $(BUILD_DIR)/tools
SHIP_TESTS ?= ^deploy\.|^e2e\.(ImageBuilds|ThreeReplicas|MonitorSees|Dashboard|ChartRunsAsPods|ImageTierKeepsOwnStorage)

.PHONY: image
image: ## Build the container image $(IMG): docker if an engine answers, else buildah in $(BUILD_DIR)/containers
	@docker info >/dev/null 2>&1 || scripts/deps.sh e2e
	@ECHOD_CONTAINERS_DIR=$(BUILD_DIR)/containers scripts/build-image.sh $(IMG) $(BUILD_DIR)/cache

.PHONY: dashboard
dashboard: ## Regenerate the Grafana dashboard (deploy/grafana/ and the chart's copy) from deploy/grafana/dashboard.py
	@python3 deploy/grafana/dashboard.py

.PHONY: chart-lint
chart-lint: ## helm lint --strict (Helm 3 and Helm 4) the chart with its defaults and every ci/*-values.yaml
	@scripts/deps.sh e2e
	@for major in 3 4; do helm="$$(scripts/fetch-helm.sh $(TOOLS_DIR) $$major | tail -n 1)"; \
	  echo ">> $$($$helm version --short)"; \
	  $$helm lint --strict helm/echod && \
	  for f in helm/echod/ci/*-values.yaml; do echo ">> helm lint --strict -f $$f"; \
	    $$helm lint --strict --quiet helm/echod -f $$f || exit 1; done || exit 1; done

.PHONY: test-deploy
test-deploy: deps-all build ## Shipping tests: chart, deploy/, Prometheus rules, image, three-replica mini cluster
	@cd $(BUILD_DIR) && ctest --output-on-failure -R '$(SHIP_TESTS)' $(CTEST_ARGS)

# --- reliability ---
# The fault tier itself runs in `make test` / `make test-fault` (bounded: soak 120 s,
# 20 s of fuzzing per target, 60 s for fuzz_admin_request). These run the same machinery for longer.
SOAK_SECONDS ?= 900
FUZZ_SECONDS ?= 300

.PHONY: soak
soak: build ## Long soak: load + periodic faults for SOAK_SECONDS (default 900), RSS/fd trend checks
	@echo ">> soak for $(SOAK_SECONDS) s"
	@ECHOD_SOAK_SECONDS=$(SOAK_SECONDS) $(BUILD_DIR)/tests/fault/fault_soak

.PHONY: fuzz
fuzz: ## Long fuzz session: FUZZ_SECONDS (default 300) per target; new coverage merged into fuzz/corpus/
	@fuzz/run.sh --build-dir $(BUILD_DIR)-fuzz --seconds-per-target $(FUZZ_SECONDS) --keep-new
