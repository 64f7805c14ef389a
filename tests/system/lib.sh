# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the system tests (after tests/lib.sh, which it sources first:
# say, fail, skip, wait_for, mint, as and the other helpers the integration
# tests share): prepay installed from its Debian package and
# run by systemd as PID 1, the way a host runs it. These tests change the
# machine (a package, groups, users, units), so they run only in the guest
# tests/vm boots (host name prepay-vm) unless PREPAY_SYSTEM_TESTS=1 says
# this machine may be used so. The EXIT trap purges the package, removes
# the users and drop-ins the test made, and ends only what it started.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

DEB_DIR=${PREPAY_DEB_DIR:-$O/../deb}
UNIT=prepayd.service
SOCKET=/run/prepay/control.sock
CONF=/etc/prepay/prepayd.conf
DROPIN=/run/systemd/system/prepayd.service.d
USERS=()    # users the test made, removed by cleanup
SOFT_FAILS=()
INSTALLED=0

# A failed assertion the rest of the test does not depend on: reported,
# and the test goes on; it fails at the end.
soft_fail() {
        say "FAIL: $*"
        SOFT_FAILS+=("$1")
}

[ "$(id -u)" -eq 0 ] || skip "needs root (installs a package)"
[ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] ||
        skip "PID 1 is not systemd (the system tests run in the booted guest: make vmtest)"
[ "$(hostname)" = prepay-vm ] || [ "${PREPAY_SYSTEM_TESTS:-0}" = 1 ] ||
        skip "installs and purges the prepay package: runs in the tests/vm guest only (PREPAY_SYSTEM_TESTS=1 to allow this machine)"
command -v jq >/dev/null || skip "jq is not installed"
if dpkg-query -W -f='${Status}' prepay 2>/dev/null | grep -q 'install ok installed'; then
        skip "the prepay package is installed already: this test would purge it"
fi

T=$(mktemp -d /tmp/prepay-system.XXXXXX)
# Tenants read the vouchers minted for them from here (mint makes them
# readable by all).
chmod 0755 "$T"
VOUCHER_MODE=0644
ISSUER_KEY=$T/issuer/issuer.key
export PREPAY_TOKEN_DIR=$T/tokens

# What the system tests wait for is mostly systemctl's word, slow to ask in
# an emulated guest: they ask every 0.2 s, as they always did.
WAIT_EVERY=0.2

main_pid() { systemctl show -p MainPID --value "$UNIT"; }
is_active() { [ "$(systemctl is-active "$1" 2>/dev/null)" = active ]; }

journal_tail() {
        say "journal of $UNIT (last ${1:-30} lines):"
        journalctl -q -u "$UNIT" -u prepayd.socket --no-pager -n "${1:-30}" 2>/dev/null | sed 's/^/  | /'
}

# install_package: dpkg -i of the package in $DEB_DIR; prints what dpkg said.
install_package() {
        local deb
        deb=$(ls "$DEB_DIR"/prepay_*.deb 2>/dev/null | head -n 1)
        [ -n "$deb" ] || fail "no package in $DEB_DIR: run make deb (make check and make vmtest do)"
        INSTALLED=1
        if ! dpkg -i "$deb" >"$T/dpkg-install.log" 2>&1; then
                sed 's/^/  | /' "$T/dpkg-install.log"
                fail "dpkg -i $(basename "$deb") failed"
        fi
        say "install: dpkg -i $(basename "$deb"): $(dpkg-query -W -f='${Status} ${Version}' prepay)"
}

purge_package() {
        dpkg --purge prepay >"$T/dpkg-purge.log" 2>&1
        local rc=$?
        INSTALLED=0
        return $rc
}

# The issuer the tests mint with, its public half trusted by the daemon
# (read at the next reload).
make_issuer() {
        [ -f "$ISSUER_KEY" ] && return 0
        prepay keygen --out "$T/issuer" >/dev/null || fail "prepay keygen failed"
        install -m 0644 "$T/issuer/issuer.pub" /etc/prepay/issuers.d/system-test.pub
}

# reload_daemon: systemctl reload, then waits for the unit to be active again.
reload_daemon() {
        systemctl reload "$UNIT" || return 1
        wait_for 30 is_active "$UNIT"
}

# add_user NAME [GROUP]: a throwaway user, in GROUP if given.
add_user() {
        userdel -r "$1" >/dev/null 2>&1
        useradd -M -N -s /bin/sh ${2:+-G "$2"} "$1" || fail "useradd $1 failed"
        USERS+=("$1")
        install -d -m 0700 -o "$1" "$T/tokens-$1"
}

# Units a purge must leave none of (the guest's own test unit aside).
prepay_units() {
        systemctl list-units --all --plain --no-legend 'prepay-*' 'prepay.slice' 'prepayd.*' 2>/dev/null |
                awk '$1 != "prepay-vmtest.service" && $3 != "inactive" { printf "%s(%s/%s) ", $1, $3, $4 }'
}

cleanup() {
        local rc=$? pid u
        for pid in "${BG_PIDS[@]}"; do
                kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
        done
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "$INSTALLED" = 1 ]; then
                journal_tail 40
        fi
        rm -rf "$DROPIN"
        systemctl daemon-reload 2>/dev/null
        if [ "$INSTALLED" = 1 ]; then
                purge_package || say "cleanup: dpkg --purge prepay failed: $(tail -n 3 "$T/dpkg-purge.log")"
        fi
        # What a failed purge may have left: slices, the daemon.
        systemctl stop prepay.slice prepayd.socket prepayd.service >/dev/null 2>&1
        systemctl reset-failed 'prepay-*' 'prepayd.*' >/dev/null 2>&1
        for u in "${USERS[@]}"; do
                userdel "$u" >/dev/null 2>&1
        done
        rm -rf "$T"
        [ "$rc" -eq 0 ] && [ ${#SOFT_FAILS[@]} -gt 0 ] && rc=1
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
