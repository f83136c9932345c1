# ssewatchd — plain Makefile. `make help` lists the targets.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system

CC      ?= cc
FUZZ_CC ?= clang
PKGS    := libcurl jansson libsystemd yaml-0.1 liburing

# Sanitizer builds live in their own tree so the two never mix objects.
ifeq ($(SANITIZE),1)
OUT      := build/asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPTFLAGS := -O1
else
OUT      := build
SANFLAGS :=
OPTFLAGS := -O2
endif
OBJ := $(OUT)/obj

WARNFLAGS := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wpointer-arith \
             -Wmissing-prototypes -Wstrict-prototypes -Wvla -Wno-missing-field-initializers
BASEFLAGS := -std=c11 -D_GNU_SOURCE -g $(OPTFLAGS) $(SANFLAGS) $(WARNFLAGS) \
             -Iinclude -Isrc -DSSEWATCHD_VERSION='"$(VERSION)"' -MMD -MP

# Evaluated only when a compile or link runs, so `make check` can install
# the libraries first.
PKG_CFLAGS   = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS     = $(shell pkg-config --libs $(PKGS))
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS   = $(shell pkg-config --libs check)

ALL_CFLAGS = $(BASEFLAGS) $(PKG_CFLAGS) $(CFLAGS)

SRCS     := $(wildcard src/*.c)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:src/%.c=$(OBJ)/src/%.o)
LIB      := $(OBJ)/libssewatchd.a
BIN      := $(OUT)/ssewatchd

TEST_SRCS := $(wildcard tests/unit/*.c)
TEST_OBJS := $(TEST_SRCS:tests/unit/%.c=$(OBJ)/tests/%.o)
UNIT      := $(OUT)/tests/unit

FUZZ_TARGETS := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
FUZZ_SECONDS ?= 60
# The smoke run in `make check`: a fixed number of runs from a fixed seed.
FUZZ_SMOKE_RUNS ?= 200000

VALGRIND_FLAGS := --error-exitcode=99 --leak-check=full --show-leak-kinds=all --child-silent-after-fork=yes \
                  --errors-for-leak-kinds=all --track-origins=yes --quiet
# The daemon under valgrind in the integration tests: any error or leak at a
# clean exit makes it exit 99, which the tests see. ("Still reachable" blocks
# are libraries' process-lifetime caches, not leaks.)
VALGRIND_DAEMON := valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
                   --errors-for-leak-kinds=definite,indirect,possible --child-silent-after-fork=yes \
                   --trace-children=no --quiet

PYTHON      ?= python3
INTEGRATION := $(PYTHON) -m unittest discover -s tests/integration -p 'test_*.py'

.PHONY: all deps demo check check-run unit integration torture valgrind fuzz fuzz-build fuzz-smoke \
        install clean help libs-present bench

all: $(BIN)

help:
	@echo "make                 build $(BIN)"
	@echo "make demo            watch a local SSE server and see triggers fire (Ctrl-C stops)"
	@echo "make check           install missing packages, build, run every test"
	@echo "make check SANITIZE=1  the same under AddressSanitizer + UBSan"
	@echo "make valgrind        the unit suites under valgrind"
	@echo "make fuzz FUZZ_SECONDS=N  run each libFuzzer target for N seconds"
	@echo "make torture         100 SIGKILLs during 10,000 notifications: nothing lost"
	@echo "make bench           measure against curl, fdatasync and node eventsource; writes bench/RESULTS.md"
	@echo "                     (BENCH_QUICK=1: a one-minute smoke run)"
	@echo "make install PREFIX=/usr DESTDIR=..."

deps:
	@scripts/install-deps

libs-present:
	@pkg-config --exists $(PKGS) check || { \
		echo "Missing build libraries; run scripts/install-deps (or make check, which runs it)." >&2; \
		exit 1; }

$(OBJ)/src/%.o: src/%.c | libs-present
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(OBJ)/src/main.o $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(OBJ)/tests/%.o: tests/unit/%.c | libs-present
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -Itests -c -o $@ $<

$(UNIT): $(TEST_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(TEST_OBJS) $(LIB) $(CHECK_LIBS) $(PKG_LIBS)

# ---------------------------------------------------------------- demo

demo: deps
	@$(MAKE) --no-print-directory $(BIN) SANITIZE=
	@scripts/demo

# ---------------------------------------------------------------- tests

check: deps
	@$(MAKE) --no-print-directory check-run

# Integration first, so the run ends with Check's summary of the unit suites.
check-run: $(BIN) $(UNIT) fuzz-smoke man-lint
	@$(MAKE) --no-print-directory integration
	@echo "== unit suites$(if $(SANITIZE), (ASan+UBSan))"
	@$(UNIT)

unit: $(UNIT)
	@$(UNIT)

# Real servers (nginx + nchan, the fault-injecting SSE server) and the real
# daemon binary; tests/integration/*.py.
integration: $(BIN)
	@echo "== integration tests$(if $(SANITIZE), (ASan+UBSan daemon))"
	@SSEWATCHD_BIN=$(abspath $(BIN)) SSEWATCHD_SANITIZED=$(SANITIZE) $(INTEGRATION)

# The long run: 100 SIGKILLs at random moments during 10,000 notifications
# through a command trigger that sleeps 0-20 ms (make check does 10), once
# with each commit mode.
TORTURE_KILLS ?= 100
torture: deps
	@$(MAKE) --no-print-directory $(BIN)
	@for commit in per_event batch; do \
		echo "== torture: $(TORTURE_KILLS) SIGKILLs during 10,000 notifications, commit: $$commit"; \
		SSEWATCHD_BIN=$(abspath $(BIN)) SSEWATCHD_TEST_KILLS=$(TORTURE_KILLS) SSEWATCHD_TEST_COMMIT=$$commit \
			$(PYTHON) -m unittest -v tests.integration.test_sse_daemon.NchanTests.test_volume_with_sigkills_loses_nothing \
			|| exit 1; \
	done

valgrind: deps
	@$(MAKE) --no-print-directory $(UNIT) $(BIN) SANITIZE=
	@echo "== unit suites under valgrind"
	CK_FORK=no CK_DEFAULT_TIMEOUT=0 valgrind $(VALGRIND_FLAGS) $(UNIT)
	@echo "== integration tests, daemon under valgrind"
	@SSEWATCHD_BIN=$(abspath build/ssewatchd) SSEWATCHD_WRAPPER="$(VALGRIND_DAEMON)" $(INTEGRATION)

# ---------------------------------------------------------------- benchmark

# Not part of check: a few minutes of real servers and peers (issue 7).
# bench/run.py installs node's eventsource into build/bench and regenerates
# bench/RESULTS.md; BENCH_QUICK=1 is a smoke run (build/bench/RESULTS-quick.md),
# BENCH_ONLY=sse,spawn runs some parts, BENCH_PERF=1 adds perf profiles.
bench: deps
	@$(MAKE) --no-print-directory $(BIN) SANITIZE=
	@SSEWATCHD_BIN=$(abspath build/ssewatchd) $(PYTHON) bench/run.py

# ---------------------------------------------------------------- fuzzing

FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc -Itests -Werror -Wall -Wextra \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

build/fuzz/fuzz_%: fuzz/fuzz_%.c $(LIB_SRCS) $(wildcard src/*.h include/*.h) | libs-present
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(PKG_CFLAGS) -o $@ $< $(filter $(shell sed -n 's|^// fuzz-sources: ||p' $<),$(LIB_SRCS)) $(PKG_LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
		echo "== fuzz smoke: $$t ($(FUZZ_SMOKE_RUNS) runs)"; \
		mkdir -p build/fuzz/corpus-$$t; \
		build/fuzz/fuzz_$$t -seed=1 -runs=$(FUZZ_SMOKE_RUNS) -max_len=4096 \
			build/fuzz/corpus-$$t fuzz/corpus/$$t >build/fuzz/smoke-$$t.log 2>&1 \
			|| { tail -n 40 build/fuzz/smoke-$$t.log; exit 1; }; \
		tail -n 1 build/fuzz/smoke-$$t.log; \
	done

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		echo "== fuzz: $$t for $(FUZZ_SECONDS)s"; \
		mkdir -p build/fuzz/corpus-$$t; \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 \
			build/fuzz/corpus-$$t fuzz/corpus/$$t || exit 1; \
	done

# ---------------------------------------------------------------- install

# The unit's ExecStart= names $(BINDIR); the relaxed-sandbox drop-in is an
# example to copy into /etc/systemd/system/ssewatchd.service.d/.
install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/ssewatchd
	install -D -m 0644 conf/ssewatchd.yaml $(DESTDIR)$(SYSCONFDIR)/ssewatchd/ssewatchd.yaml.example
	install -D -m 0644 man/ssewatchd.8 $(DESTDIR)$(MANDIR)/man8/ssewatchd.8
	install -D -m 0644 man/ssewatchd.yaml.5 $(DESTDIR)$(MANDIR)/man5/ssewatchd.yaml.5
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed 's|^ExecStart=/usr/bin/ssewatchd |ExecStart=$(BINDIR)/ssewatchd |' systemd/ssewatchd.service \
		>$(DESTDIR)$(UNITDIR)/ssewatchd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/ssewatchd.service
	install -D -m 0644 systemd/ssewatchd-relaxed-triggers.conf \
		$(DESTDIR)$(PREFIX)/share/doc/ssewatchd/ssewatchd-relaxed-triggers.conf

# mandoc -Tlint on the manual pages. Left out: what depends on the machine,
# i.e. the pages' references to each other (found only once installed) and
# mandoc's remarks about its own database.
.PHONY: man-lint
man-lint:
	@command -v mandoc >/dev/null || { echo "mandoc is missing: run scripts/install-deps" >&2; exit 1; }
	@out=$$(mandoc -Tlint man/ssewatchd.8 man/ssewatchd.yaml.5 2>&1 | \
		grep -v -e 'referenced manual not found: Xr ssewatchd' -e 'outdated mandoc.db'); \
	if [ -n "$$out" ]; then echo "$$out" >&2; exit 1; fi; \
	echo "man pages: mandoc -Tlint clean"

clean:
	rm -rf build

-include $(shell find build -path '*/obj/*' -name '*.d' -type f 2>/dev/null)
