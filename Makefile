# duet — GNU make build.
#
#   make demo        install missing packages, build, train a tiny model on 2 ranks, sample
#   make test        install missing packages, build, run the whole test suite
#   make             build the library and the four binaries
#   make CC=clang    same with clang;  make SAN=1 ...  ASan+UBSan build (in build/san)
#   make fuzz        libFuzzer harnesses (clang), FUZZ_SECONDS each (tests/fuzz)
#   make bench       benchmarks (JSON lines; see bench/RESULTS.md)
#   make deps        install missing Debian packages (as root), else print the apt line

ifeq ($(origin CC),default)
CC := gcc
endif
SAN ?= 0
OMP ?= 1
NATIVE ?= 1
NP ?= 2
V ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
endif

ifeq ($(FUZZ),1)
# libFuzzer harnesses (make fuzz): clang, coverage for the fuzzer plus ASan+UBSan
# (at -O1 clang cannot vectorize the omp simd reductions and would warn).
BUILD := build/fuzz
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
       -Wno-pass-failed
else ifeq ($(SAN),1)
BUILD := build/san
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
else
BUILD := build
OPT := -O3 -g
ifeq ($(NATIVE),1)
OPT += -march=native
endif
endif
ifeq ($(OMP),1)
OPT += -fopenmp
endif

PKGS_BLAS := $(shell pkg-config --cflags openblas 2>/dev/null)
LIBS_BLAS := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
LIBS_CHECK := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null || mpicc --showme:compile 2>/dev/null)
MPI_LIBS := $(shell pkg-config --libs ompi-c 2>/dev/null || mpicc --showme:link 2>/dev/null)

CFLAGS_ALL := -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
              -Iinclude $(PKGS_BLAS) $(OPT) $(CFLAGS)
LDLIBS_ALL := $(LIBS_BLAS) -lz -lm -lpthread $(LDLIBS)
LDFLAGS_ALL := $(OPT) $(LDFLAGS)

# Library: every src/<module>/*.c except the tools (thin mains) and the two
# dist backends, which binaries pick: MPI for duet-train, serial elsewhere.
LIB_SRC := $(sort $(filter-out src/tools/% src/dist/%,$(wildcard src/*/*.c)))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB := $(BUILD)/libduet.a
DIST_MPI := $(BUILD)/obj/src/dist/dist_mpi.o
DIST_SERIAL := $(BUILD)/obj/src/dist/dist_serial.o

BIN_MPI := duet-train
BIN_SERIAL := duet-prep duet-sample duet-eval
BINS := $(addprefix $(BUILD)/bin/,$(BIN_MPI) $(BIN_SERIAL))

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_NAMES := $(patsubst tests/unit/test_%.c,%,$(UNIT_SRC))
# Helpers shared by the unit and MPI suites (temp dirs, finite differences).
TEST_COMMON_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/common/*.c))
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/tests/unit/main.o $(TEST_COMMON_OBJ)
MPI_TEST_SRC := $(sort $(wildcard tests/mpi/test_*.c))
MPI_TEST_OBJ := $(MPI_TEST_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/tests/mpi/main.o $(TEST_COMMON_OBJ)
# Small programs the integration tests call (tests/tools/NAME.c -> $(BUILD)/tests/NAME).
TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(wildcard tests/tools/*.c))
# The common helpers the tools link (the others need Check).
TOOL_COMMON_OBJ := $(addprefix $(BUILD)/obj/tests/common/,testutil.o hostile.o)
TEST_BINS := $(BUILD)/tests/unit_tests $(if $(MPI_TEST_SRC),$(BUILD)/tests/mpi_tests) $(TEST_TOOLS)

.PHONY: all deps demo test check-unit check-mpi check-integration check-san fuzz fuzz-run bench clean help
.DEFAULT_GOAL := all

all: $(BINS)

help:
	@sed -n '3,10p' Makefile

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	$(Q)$(CC) $(CFLAGS_ALL) -Itests/common -MMD -MP -c $< -o $@

$(DIST_MPI): src/dist/dist_mpi.c
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	$(Q)$(CC) $(CFLAGS_ALL) $(MPI_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  AR   $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(addprefix $(BUILD)/bin/,$(BIN_MPI)): $(BUILD)/bin/%: $(BUILD)/obj/src/tools/%.o $(LIB) $(DIST_MPI)
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(DIST_MPI) $(LIB) $(MPI_LIBS) $(LDLIBS_ALL)

$(addprefix $(BUILD)/bin/,$(BIN_SERIAL)): $(BUILD)/bin/%: $(BUILD)/obj/src/tools/%.o $(LIB) $(DIST_SERIAL)
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(DIST_SERIAL) $(LIB) $(LDLIBS_ALL)

# ---- tests --------------------------------------------------------------
# Each tests/unit/test_NAME.c defines `Suite *suite_NAME(void)`; the runner
# gets the list from a generated header, so adding a file adds a suite.
$(BUILD)/gen/unit_suites.h: $(UNIT_SRC) Makefile
	@mkdir -p $(dir $@)
	@printf '%s\n' $(foreach n,$(UNIT_NAMES),'DUET_SUITE($(n))') > $@.tmp
	@cmp -s $@.tmp $@ 2>/dev/null && rm -f $@.tmp || mv $@.tmp $@

$(BUILD)/gen/mpi_suites.h: $(MPI_TEST_SRC) Makefile
	@mkdir -p $(dir $@)
	@printf '%s\n' $(foreach n,$(patsubst tests/mpi/test_%.c,%,$(MPI_TEST_SRC)),'DUET_SUITE($(n))') > $@.tmp
	@cmp -s $@.tmp $@ 2>/dev/null && rm -f $@.tmp || mv $@.tmp $@

$(BUILD)/obj/tests/unit/main.o: tests/unit/main.c $(BUILD)/gen/unit_suites.h
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	$(Q)$(CC) $(CFLAGS_ALL) -Itests/common -I$(BUILD)/gen -MMD -MP -c $< -o $@

$(BUILD)/obj/tests/mpi/main.o: tests/mpi/main.c $(BUILD)/gen/mpi_suites.h
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	$(Q)$(CC) $(CFLAGS_ALL) -Itests/common -I$(BUILD)/gen -MMD -MP -c $< -o $@

$(BUILD)/tests/unit_tests: $(UNIT_OBJ) $(LIB) $(DIST_SERIAL)
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(UNIT_OBJ) $(DIST_SERIAL) $(LIB) $(LIBS_CHECK) $(LDLIBS_ALL)

$(BUILD)/tests/mpi_tests: $(MPI_TEST_OBJ) $(LIB) $(DIST_MPI)
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(MPI_TEST_OBJ) $(DIST_MPI) $(LIB) $(MPI_LIBS) $(LIBS_CHECK) $(LDLIBS_ALL)

$(TEST_TOOLS): $(BUILD)/tests/%: $(BUILD)/obj/tests/tools/%.o $(TOOL_COMMON_OBJ) $(LIB) $(DIST_SERIAL)
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(TOOL_COMMON_OBJ) $(DIST_SERIAL) $(LIB) $(LDLIBS_ALL)

# mpirun settings for local runs on this machine (root, few cores); never
# forced on cluster users, who use launch/ directly.
LOCAL_MPIRUN := launch/duet-mpirun.sh

check-unit: $(BUILD)/tests/unit_tests
	DUET_BUILD=$(BUILD) $(BUILD)/tests/unit_tests

check-mpi: $(if $(MPI_TEST_SRC),$(BUILD)/tests/mpi_tests)
	$(if $(MPI_TEST_SRC),$(LOCAL_MPIRUN) -np $(NP) $(BUILD)/tests/mpi_tests)

check-integration: all $(TEST_TOOLS)
	@for t in $(sort $(wildcard tests/integration/test_*.sh)); do \
	  echo "== $$t"; DUET_BUILD=$(BUILD) sh $$t || exit 1; done

# The whole unit suite built with SAN=1 in its own BUILD dir (ASan+UBSan,
# halting on the first report), two suites at a time; `train` (duet-train end
# to end for every objective, ~2 minutes under ASan) starts first so that the
# others run beside it. OpenMPI keeps allocations until exit
# (tests/san/lsan.supp); suites that launch the MPI binaries (SAN_MPI_SUITES)
# need full stacks to match them.
SAN_BUILD := build/san
SAN_FIRST := train
SAN_MPI_SUITES := train vq
SAN_ENV := UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
           LSAN_OPTIONS=suppressions=$(CURDIR)/tests/san/lsan.supp:print_suppressions=0
check-san:
	@$(MAKE) --no-print-directory SAN=1 BUILD=$(SAN_BUILD) all $(SAN_BUILD)/tests/unit_tests \
	  $(SAN_BUILD)/tests/corrupt
	@mkdir -p $(SAN_BUILD)/log
	@printf '%s\n' $(SAN_FIRST) $(filter-out $(SAN_FIRST),$(UNIT_NAMES)) | xargs -P 2 -I{} sh -c ' \
	  case " $(SAN_MPI_SUITES) " in *" {} "*) u=0;; *) u=1;; esac; \
	  if $(SAN_ENV) ASAN_OPTIONS=halt_on_error=1:fast_unwind_on_malloc=$$u DUET_BUILD=$(SAN_BUILD) \
	     CK_RUN_SUITE={} $(SAN_BUILD)/tests/unit_tests >$(SAN_BUILD)/log/{}.log 2>&1; \
	  then echo "  san {}: $$(tail -n 1 $(SAN_BUILD)/log/{}.log)"; \
	  else echo "  san {}: FAILED"; cat $(SAN_BUILD)/log/{}.log; exit 1; fi'

# libFuzzer harnesses tests/fuzz/fuzz_NAME.c, each run for FUZZ_SECONDS from
# the seed corpus tests/fuzz/corpus/NAME (new inputs go to build/fuzz/corpus,
# crashes to build/fuzz/crash-NAME-*).
FUZZ_SECONDS ?= 60
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(addprefix $(BUILD)/fuzz/fuzz_,$(FUZZ_NAMES))
$(FUZZ_BINS): $(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(TOOL_COMMON_OBJ) $(LIB) $(DIST_SERIAL)
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -fsanitize=fuzzer -o $@ $< $(TOOL_COMMON_OBJ) $(DIST_SERIAL) $(LIB) $(LDLIBS_ALL)

fuzz:
	@$(MAKE) --no-print-directory FUZZ=1 CC=clang fuzz-run

fuzz-run: $(FUZZ_BINS)
	@for n in $(FUZZ_NAMES); do \
	  mkdir -p $(BUILD)/corpus/$$n; \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $(BUILD)/fuzz/fuzz_$$n \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(BUILD)/crash-$$n- $(BUILD)/corpus/$$n tests/fuzz/corpus/$$n \
	    >$(BUILD)/fuzz-$$n.log 2>&1 \
	  || { tail -n 60 $(BUILD)/fuzz-$$n.log; echo "fuzz $$n: FAILED (log: $(BUILD)/fuzz-$$n.log)"; exit 1; }; \
	  echo "  fuzz $$n: $$(grep -m1 stat::number_of_executed_units $(BUILD)/fuzz-$$n.log) in $(FUZZ_SECONDS) s"; \
	done

# The whole suite, from a fresh clone: packages, build, unit tests, MPI
# tests, unit tests under sanitizers, integration tests, a fuzzing smoke.
test: deps
	@$(MAKE) --no-print-directory all $(TEST_BINS)
	@$(MAKE) --no-print-directory check-unit
	@$(MAKE) --no-print-directory check-mpi
	@$(MAKE) --no-print-directory check-san
	@$(MAKE) --no-print-directory check-integration
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=4

# ---- benchmarks -----------------------------------------------------------
# bench/NAME.c -> $(BUILD)/bench/NAME (serial); `make bench` runs every
# bench/bench_*.sh in order, each printing JSON lines (see bench/RESULTS.md).
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB) $(DIST_SERIAL)
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(DIST_SERIAL) $(LIB) $(LDLIBS_ALL)

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@for s in $(sort $(wildcard bench/bench_*.sh)); do DUET_BUILD=$(BUILD) sh $$s || exit 1; done

# ---- demo ---------------------------------------------------------------
DEMO := build/demo
demo: deps
	@$(MAKE) --no-print-directory all
	@sh launch/demo.sh $(BUILD) $(DEMO)

# ---- packages -----------------------------------------------------------
# The SLURM daemons and munge serve only tests/integration/test_slurm.sh (a
# private one-node cluster); nothing else needs them.
# clang builds the libFuzzer harnesses (make fuzz, run by make test).
DEB_PKGS := gcc libc6-dev make libopenmpi-dev openmpi-bin libopenblas-dev zlib1g-dev check pkg-config \
            slurmctld slurmd slurm-client munge clang
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	else \
	  echo "deps: missing Debian packages:$$missing"; \
	  echo "deps: run as root:  apt-get install -y --no-install-recommends$$missing"; \
	  exit 1; \
	fi

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
