# SPDX-License-Identifier: LGPL-2.1-or-later
#
# prepay: the build. Everything it makes goes to $(O) (build/ by default),
# never into the source tree. The chain for BPF follows libbpf-bootstrap:
#   bpf/x.bpf.c -> $(O)/bpf/x.bpf.o -> $(O)/bpf/x.skel.h -> daemon objects.
#
#   make            build prepayd, prepay, BPF objects, tests' helpers
#   make demo       install missing Debian packages, build, run the demo
#   make check      install missing Debian packages, build, run every test
#   make bench      run the benchmarks under tests/bench
#   make check-fresh  make demo and make check on a fresh minimal Debian 12
#                   (a debootstrap root, a clone of HEAD; tests/check-fresh)
#   make fuzz       every libFuzzer harness of tests/fuzz for FUZZ_SECONDS
#                   (300) each, with ASan and UBSan; "make check" runs each
#                   for FUZZ_SMOKE_SECONDS (tests/run-all fuzz)
#   make vmtest     the integration and system suites in a booted guest
#                   (tests/vm; pure cgroup v2, systemd as PID 1); VMTEST_SHELL=1:
#                   a shell there
#   make install    DESTDIR=... PREFIX=... (default /usr/local): binaries, man
#                   pages, config, units, sysusers, tmpfiles, bash completion
#   make deb        the Debian package, built in a copy of the tree under
#                   $(O)/deb-build, left in $(O)/deb/ (packaging/debian)

O ?= build
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
# prepayd reads /etc/prepay (compiled in: prepayd.conf, issuers.d) and its
# unit's ConfigurationDirectory= is there, whatever PREFIX is.
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions

CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
PKG_CONFIG ?= pkg-config
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

# Warnings are errors in CI (CI=true), and wherever WERROR=1 is given.
WERROR ?= $(if $(filter true 1,$(CI)),1,0)
WARNFLAGS := -Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter -Wmissing-prototypes \
	-Wstrict-prototypes -Wno-missing-field-initializers $(if $(filter 1,$(WERROR)),-Werror)
CFLAGS ?= -O2 -g
PKGS := libbpf libcgroup libsystemd json-c inih libcrypto sqlite3
# Recursive (=) so pkg-config runs only when a recipe needs it: "make
# check" installs the packages first.
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) libmicrohttpd libcurl)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS))
# The gateway's HTTP server and the CLI's HTTP client: each binary links
# its own, and --as-needed keeps them out of every other (prepayd never
# loads an HTTP or TLS library).
GATEWAY_LIBS = $(shell $(PKG_CONFIG) --libs libmicrohttpd)
CURL_LIBS = $(shell $(PKG_CONFIG) --libs libcurl)
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE -pthread -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE \
	$(WARNFLAGS) $(CFLAGS) -I$(O) -Idaemon -Ibpf $(PKG_CFLAGS)
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now -Wl,--as-needed -pthread $(LDFLAGS)

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/ppc64le/powerpc/')
BPF_CFLAGS := -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) -I$(O) -Ibpf

COMMON_SRCS := $(wildcard daemon/common/*.c)
# prepay-gatewayd: daemon/gateway-main.c and the gateway-*.c modules,
# never linked into prepayd.
GATEWAY_SRCS := $(wildcard daemon/gateway-*.c)
DAEMON_SRCS := $(filter-out daemon/main.c $(GATEWAY_SRCS),$(wildcard daemon/*.c))
TOOLS_SRCS := $(wildcard tools/*.c)
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
HELPER_SRCS := $(wildcard tests/helpers/*.c)
BENCH_SRCS := $(wildcard tests/bench/*.c)
BPF_SRCS := $(wildcard bpf/*.bpf.c)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz-*.c)

COMMON_OBJS := $(COMMON_SRCS:%.c=$(O)/%.o)
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(O)/%.o)
GATEWAY_OBJS := $(patsubst %.c,$(O)/%.o,$(filter-out daemon/gateway-main.c,$(GATEWAY_SRCS)))
TOOLS_OBJS := $(TOOLS_SRCS:%.c=$(O)/%.o)
SKELS := $(BPF_SRCS:bpf/%.bpf.c=$(O)/bpf/%.skel.h)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(O)/tests/%)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(O)/tests/bench-%)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(O)/fuzz/%)

Q = $(if $(V),,@)
msg = $(if $(V),,@printf '  %-8s %s\n' '$(1)' '$(2)';)

.PHONY: all deps demo check check-unit check-integration check-vm vmtest check-bpf-fallback check-units bench fuzz \
	fuzz-build install deb clean
.DELETE_ON_ERROR:
.SECONDARY:

all: $(O)/prepayd $(O)/prepay $(O)/prepay-gatewayd $(HELPER_BINS) $(UNIT_BINS) $(BENCH_BINS)

# Installs the Debian packages the build and the tests need, if missing.
deps:
	$(Q)packaging/build-deps

# The VM part's packages (QEMU, the image builder's) are asked for too;
# where they cannot be installed the demo skips that part and says why.
demo: deps
	$(Q)packaging/build-deps --vmslice || echo "prepay: the demo's VM part will be skipped"
	$(Q)$(MAKE) --no-print-directory all
	$(Q)O=$(O) tests/demo

# The guest installs the package (tests/system/test-package.sh): it is
# built before the suites, and a package that does not build fails check.
# test-vm boots a guest on the host: QEMU and the image builder's packages
# too (without them it says skipped, with the reason).
check: deps
	$(Q)packaging/build-deps --vmslice || echo "prepay: tests/integration/test-vm.sh will be skipped"
	$(Q)$(MAKE) --no-print-directory all fuzz-build
	$(Q)$(MAKE) --no-print-directory deb
	$(Q)O=$(O) tests/run-all

check-unit: all
	$(Q)O=$(O) tests/run-all unit

check-integration: all
	$(Q)O=$(O) tests/run-all integration

check-vm: all deb
	$(Q)O=$(O) tests/run-all vm

# The guest suite on its own, with its output and timings (tests/vm/README.md).
# VMTEST_SHELL=1 boots the same guest into a root shell on this terminal.
vmtest: all deb
	$(Q)O=$(O) VMTEST_SHELL=$(VMTEST_SHELL) tests/vm/run

# The README's two commands on a fresh minimal Debian 12: a debootstrap
# minbase root with git and make, a clone of HEAD in it, "make demo" and
# "make check" there (tests/check-fresh). Not in CI: 20-40 minutes.
.PHONY: check-fresh
check-fresh:
	$(Q)tests/check-fresh

bench: all
	$(Q)O=$(O) tests/bench/meter-overhead
	$(Q)O=$(O) tests/bench/redeem
	$(Q)O=$(O) tests/bench/scale
	$(Q)O=$(O) tests/bench/enforce
	$(Q)O=$(O) tests/bench/vm
	$(Q)O=$(O) tests/bench/gateway
	$(Q)O=$(O) tests/bench/latency

# The fuzz harnesses (tests/README.md, "Fuzzing"): clang with libFuzzer, ASan and
# UBSan, on objects of their own under $(O)/fuzz/obj (the sanitizers'
# instrumentation must not reach the gcc-built binaries). Every harness
# links the same objects the unit tests do. New inputs go to
# $(O)/fuzz/corpus-<name>, crashes to $(O)/fuzz/artifacts: never into the
# source tree. -Wno-format-nonliteral: clang, unlike gcc, warns of the
# vasprintf() of a format libbpf hands to meter.c's print callback.
FUZZ_SECONDS ?= 300
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fPIE $(FUZZ_SANITIZE) \
	-fsanitize=fuzzer-no-link $(WARNFLAGS) -Wno-format-nonliteral -I$(O) -Idaemon -Ibpf $(PKG_CFLAGS)
FUZZ_OBJS := $(patsubst %.c,$(O)/fuzz/obj/%.o,$(DAEMON_SRCS) $(COMMON_SRCS) \
	$(filter-out daemon/gateway-main.c,$(GATEWAY_SRCS)))

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	$(Q)O=$(O) tests/fuzz/run -t $(FUZZ_SECONDS) $(FUZZ_BINS:$(O)/fuzz/%=%)

$(O)/fuzz/obj/%.o: %.c $(SKELS) $(wildcard daemon/*.h daemon/common/*.h bpf/*.h tests/fuzz/*.h)
	$(Q)mkdir -p $(@D)
	$(call msg,CLANG,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

$(O)/fuzz/fuzz-%: $(O)/fuzz/obj/tests/fuzz/fuzz-%.o $(FUZZ_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CLANG) -fsanitize=fuzzer $(FUZZ_SANITIZE) -pie -Wl,--as-needed -o $@ $^ $(PKG_LIBS) $(GATEWAY_LIBS) -lelf -lz

# vmlinux.h from the running kernel's BTF; without BTF, the checked-in
# minimal header (bpf/vmlinux-fallback.h) that names only what prepay's
# programs touch, with CO-RE relocations.
$(O)/vmlinux.h:
	$(Q)mkdir -p $(@D)
	$(call msg,GEN,$@)
	$(Q)if [ -r $(VMLINUX_BTF) ] && $(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp 2>/dev/null; then \
		mv $@.tmp $@; \
	else \
		rm -f $@.tmp; echo "  no kernel BTF at $(VMLINUX_BTF): using bpf/vmlinux-fallback.h"; \
		cp bpf/vmlinux-fallback.h $@; \
	fi

# The fallback must keep compiling: check it even where BTF exists.
check-bpf-fallback: $(BPF_SRCS) bpf/vmlinux-fallback.h $(wildcard bpf/*.h)
	$(Q)mkdir -p $(O)/fallback
	$(Q)cp bpf/vmlinux-fallback.h $(O)/fallback/vmlinux.h
	$(Q)for f in $(BPF_SRCS); do \
		$(CLANG) -I$(O)/fallback $(BPF_CFLAGS) -c $$f -o $(O)/fallback/$$(basename $$f .c).o || exit 1; \
	done

$(O)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(O)/vmlinux.h
	$(Q)mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(O)/bpf/%.skel.h: $(O)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(O)/%.o: %.c $(SKELS) $(wildcard daemon/*.h daemon/common/*.h bpf/*.h tools/*.h)
	$(Q)mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(O)/prepayd: $(O)/daemon/main.o $(DAEMON_OBJS) $(COMMON_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lelf -lz

# The CLI reads the ledger itself ("prepay ledger verify" works with the
# daemon stopped) and prices nothing: it links those modules only (the
# ledger names each slice's donation model with funders.c's names).
# libcurl (--host) and libsystemd (the journal) it loads when it needs
# them (dlopen): --as-needed keeps them out.
$(O)/prepay: $(TOOLS_OBJS) $(COMMON_OBJS) $(patsubst %.c,$(O)/%.o,$(wildcard daemon/ledger*.c)) $(O)/daemon/pricing.o \
	$(O)/daemon/funders.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Unprivileged: it talks to prepayd over the control socket only, so it
# links no daemon module but its own.
$(O)/prepay-gatewayd: $(O)/daemon/gateway-main.o $(GATEWAY_OBJS) $(COMMON_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(GATEWAY_LIBS)

$(O)/tests/test-%: $(O)/tests/unit/test-%.o $(DAEMON_OBJS) $(GATEWAY_OBJS) $(COMMON_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(GATEWAY_LIBS) -lelf -lz -lcmocka

$(O)/tests/bench-%: $(O)/tests/bench/%.o $(DAEMON_OBJS) $(COMMON_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(BENCH_LIBS) -lelf -lz

# The gateway bench's client speaks HTTPS through libcurl.
$(O)/tests/bench-gateway-load: BENCH_LIBS = $(CURL_LIBS)

$(O)/tests/%: $(O)/tests/helpers/%.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^

# It sends its requests as prepay does.
$(O)/tests/peer-swap: $(O)/daemon/common/socket.o

# It writes a ledger through ledger.c, as prepayd does.
$(O)/tests/ledger-fill: $(O)/tests/helpers/ledger-fill.o $(DAEMON_OBJS) $(COMMON_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lelf -lz

# prepay --host's pure half (tools/remote.c), tested without the CLI.
$(O)/tests/test-cli-remote: $(O)/tools/remote.o
$(O)/fuzz/fuzz-remote: $(O)/fuzz/obj/tools/remote.o

# Everything a host needs, under DESTDIR and PREFIX. An existing
# $(SYSCONFDIR)/prepay/prepayd.conf is an operator's: it is left alone.
install: $(O)/prepayd $(O)/prepay $(O)/prepay-gatewayd
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(SYSCONFDIR)/prepay/issuers.d \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(O)/prepayd $(DESTDIR)$(SBINDIR)/prepayd
	install -m 0755 $(O)/prepay $(DESTDIR)$(BINDIR)/prepay
	install -m 0755 $(O)/prepay-gatewayd $(DESTDIR)$(SBINDIR)/prepay-gatewayd
	install -m 0755 tools/prepay-mkimage $(DESTDIR)$(SBINDIR)/prepay-mkimage
	install -m 0644 packaging/man/prepay.1 $(DESTDIR)$(MANDIR)/man1/prepay.1
	install -m 0644 packaging/man/prepayd.conf.5 $(DESTDIR)$(MANDIR)/man5/prepayd.conf.5
	install -m 0644 packaging/man/prepay-voucher.5 $(DESTDIR)$(MANDIR)/man5/prepay-voucher.5
	install -m 0644 packaging/man/prepay-receipt.5 $(DESTDIR)$(MANDIR)/man5/prepay-receipt.5
	install -m 0644 packaging/man/prepay-image.5 $(DESTDIR)$(MANDIR)/man5/prepay-image.5
	install -m 0644 packaging/man/prepay-gatewayd.conf.5 $(DESTDIR)$(MANDIR)/man5/prepay-gatewayd.conf.5
	install -m 0644 packaging/man/prepay-api.7 $(DESTDIR)$(MANDIR)/man7/prepay-api.7
	install -m 0644 packaging/man/prepayd.8 $(DESTDIR)$(MANDIR)/man8/prepayd.8
	install -m 0644 packaging/man/prepay-gatewayd.8 $(DESTDIR)$(MANDIR)/man8/prepay-gatewayd.8
	[ -e $(DESTDIR)$(SYSCONFDIR)/prepay/prepayd.conf ] || \
		install -m 0644 packaging/prepayd.conf $(DESTDIR)$(SYSCONFDIR)/prepay/prepayd.conf
	sed 's|@SBINDIR@|$(SBINDIR)|g' packaging/systemd/prepayd.service.in > $(DESTDIR)$(UNITDIR)/prepayd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/prepayd.service
	install -m 0644 packaging/systemd/prepayd.socket $(DESTDIR)$(UNITDIR)/prepayd.socket
	sed 's|@SBINDIR@|$(SBINDIR)|g' packaging/systemd/prepay-gatewayd.service.in \
		> $(DESTDIR)$(UNITDIR)/prepay-gatewayd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/prepay-gatewayd.service
	install -m 0644 packaging/systemd/prepay-gatewayd.socket $(DESTDIR)$(UNITDIR)/prepay-gatewayd.socket
	[ -e $(DESTDIR)$(SYSCONFDIR)/prepay/gatewayd.conf ] || \
		install -m 0644 packaging/gatewayd.conf $(DESTDIR)$(SYSCONFDIR)/prepay/gatewayd.conf
	install -m 0644 packaging/sysusers.d/prepay.conf $(DESTDIR)$(SYSUSERSDIR)/prepay.conf
	install -m 0644 packaging/tmpfiles.d/prepay.conf $(DESTDIR)$(TMPFILESDIR)/prepay.conf
	install -m 0644 packaging/bash-completion/prepay $(DESTDIR)$(BASHCOMPDIR)/prepay

# The units as installed, checked offline: systemd-analyze verify (which
# also wants ExecStart='s binary and the man pages of Documentation=), and
# the exposure figure of systemd-analyze security.
check-units: $(O)/prepayd $(O)/prepay $(O)/prepay-gatewayd
	$(Q)rm -rf $(O)/units-check
	$(Q)$(MAKE) --no-print-directory -s install DESTDIR= PREFIX=$(abspath $(O))/units-check/usr \
		SYSCONFDIR=$(abspath $(O))/units-check/etc >/dev/null
	$(Q)cd $(O)/units-check/usr/lib/systemd/system && \
		MANPATH=$(abspath $(O))/units-check/usr/share/man systemd-analyze verify prepayd.service prepayd.socket \
			prepay-gatewayd.service prepay-gatewayd.socket && \
		echo "  units: systemd-analyze verify passed" && \
		for u in prepayd.service prepay-gatewayd.service; do \
			systemd-analyze security --offline=true ./$$u 2>/dev/null | sed -n 's/^→ /  units: /p'; \
		done

# The Debian package. dpkg-buildpackage wants debian/ at the root of the
# tree it builds, so it builds in a copy (the files git knows, or the
# tree without $(O)) with packaging/debian as debian/; the source tree
# is never written to. MAKEFLAGS is dropped: this make's O= must not
# reach debian/rules' own make.
DEB_WORK := $(abspath $(O))/deb-build
deb:
	$(Q)packaging/build-deps --deb
	$(Q)rm -rf $(DEB_WORK) $(O)/deb
	$(Q)mkdir -p $(DEB_WORK)/prepay $(O)/deb
	$(call msg,COPY,$(DEB_WORK)/prepay)
	$(Q)if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z -co --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null; \
	else \
		tar --exclude-vcs --exclude='./$(O)' -cf - .; \
	fi | tar -C $(DEB_WORK)/prepay -xf -
	$(Q)rm -rf $(DEB_WORK)/prepay/debian $(DEB_WORK)/prepay/$(O)
	$(Q)cp -a packaging/debian $(DEB_WORK)/prepay/debian
	$(call msg,DEB,$(O)/deb)
	$(Q)cd $(DEB_WORK)/prepay && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		dpkg-buildpackage -us -uc -b >$(DEB_WORK)/build.log 2>&1 || \
		{ tail -n 40 $(DEB_WORK)/build.log; echo "make deb: dpkg-buildpackage failed (log: $(DEB_WORK)/build.log)"; exit 1; }
	$(Q)mv $(DEB_WORK)/*.deb $(DEB_WORK)/*.buildinfo $(DEB_WORK)/*.changes $(O)/deb/
	$(Q)mv $(DEB_WORK)/*.ddeb $(O)/deb/ 2>/dev/null || true
	$(Q)ls $(O)/deb/*.deb

clean:
	rm -rf $(O)
