#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Not a test (tests/run-all does not run it): how the capability bounding
# set and the sandbox of packaging/systemd/prepayd.service.in were found.
# Installs the package, then for each variant (a drop-in) restarts prepayd,
# buys a slice, runs in it, reads its status and releases it, and prints
# one line per variant: ok, or the first error of the daemon's journal.
#   make vmtest VMTEST_CMD=tests/system/probe-hardening.sh
. "$(dirname "$0")/lib.sh"

install_package
cat >"$CONF" <<'CONF'
[Money]
MinRuntimeSec=1s
CONF
make_issuer
systemctl restart "$UNIT"
wait_for 60 is_active "$UNIT" || say "the unit as shipped does not start"

all="CAP_SYS_ADMIN CAP_NET_ADMIN"
without() { local c out=; for c in $all; do [ "$c" = "$1" ] || out+="$c "; done; echo "$out"; }

variants=(
        "as shipped|"
        "without CAP_SYS_ADMIN|CapabilityBoundingSet=\nCapabilityBoundingSet=$(without CAP_SYS_ADMIN)"
        "without CAP_NET_ADMIN|CapabilityBoundingSet=\nCapabilityBoundingSet=$(without CAP_NET_ADMIN)"
        "CAP_BPF CAP_PERFMON CAP_NET_ADMIN instead|CapabilityBoundingSet=\nCapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN"
        "ProtectProc=default ProcSubset=all|ProtectProc=default\nProcSubset=all"
        "ProtectKernelTunables=yes|ProtectKernelTunables=yes"
        "ProtectKernelTunables=yes BindPaths=/sys/fs/bpf|ProtectKernelTunables=yes\nBindPaths=/sys/fs/bpf"
        "ProtectKernelTunables=yes ReadWritePaths=/sys/fs/bpf/prepay (made by ExecStartPre=+)|ExecStartPre=+/bin/mkdir -p /sys/fs/bpf/prepay\nProtectKernelTunables=yes\nReadWritePaths=\nReadWritePaths=/sys/fs/bpf/prepay"
        "RestrictAddressFamilies=AF_UNIX|RestrictAddressFamilies=\nRestrictAddressFamilies=AF_UNIX"
        "PrivateNetwork=yes|PrivateNetwork=yes"
        "SystemCallFilter without bpf|SystemCallFilter=~bpf"
)

probe() { # NAME: restart, buy, run, status, release; prints ok or why not
        local cur v out s
        # The previous variant's last lines may still be on their way.
        sleep 1
        journalctl --sync 2>/dev/null
        cur=$(journalctl -q -n 0 --show-cursor 2>/dev/null | sed -n 's/^-- cursor: //p')
        errs() { sleep 1; journalctl --sync 2>/dev/null; journalctl -q -u "$UNIT" --after-cursor="$cur" --no-pager -o cat -p warning 2>/dev/null | grep -v '^prepayd.service' | head -n 2 | tr '\n' ' '; }
        systemctl reset-failed "$UNIT" prepayd.socket 2>/dev/null
        systemctl start prepayd.socket 2>/dev/null
        if ! systemctl restart "$UNIT" 2>/dev/null || ! wait_for 30 is_active "$UNIT"; then
                echo "does not start: $(errs)"
                return
        fi
        v=$(mint 0.10)
        out=$(prepay run --voucher "$v" --cpus 0.2 -- true 2>&1)
        s=$(sed -n 's/^prepay: running in slice \(s-[0-9a-f]*\).*$/\1/p' <<<"$out" | head -n 1)
        if [ -z "$s" ]; then
                echo "starts; buying fails: $(tail -n 1 <<<"$out") | $(errs)"
                return
        fi
        prepay status "$s" >/dev/null 2>&1 || { echo "status of $s fails"; return; }
        prepay release "$s" >/dev/null 2>&1 || { echo "release of $s fails: $(errs)"; return; }
        w=$(errs)
        echo "ok${w:+ (warnings: $w)}"
}

mkdir -p "$DROPIN"
for v in "${variants[@]}"; do
        name=${v%%|*}
        body=${v#*|}
        rm -f "$DROPIN/60-probe.conf"
        [ -n "$body" ] && printf '[Service]\n%b\n' "$body" >"$DROPIN/60-probe.conf"
        systemctl daemon-reload
        say "$name: $(probe)"
done
rm -rf "$DROPIN"
systemctl daemon-reload
say "exposure as shipped: $(systemd-analyze security "$UNIT" 2>/dev/null | sed -n 's/^→ Overall exposure level for [^:]*: //p')"
exit 0
