#!/bin/bash
# run-all-timeout: 600
# The systemd slice backend (daemon/slice-systemd.c) against systemd as
# PID 1: a funded slice is the unit prepay-<id>.slice with its limits as
# unit properties; "prepay run" work sits in a scope inside it; throttle,
# freeze (thawed by a top-up) and kill go through systemd and show in its
# properties; a unit started by systemd-run in the slice is metered and
# charged; a restarted daemon adopts the slice with its balance; release
# removes the unit. Needs systemd as PID 1 on a pure cgroup v2 host
# (tests/vm boots one); skipped elsewhere.
PREPAY_TEST_BACKEND=systemd
. "$(dirname "$0")/../integration/lib.sh"

# One cent per CPU-second and nothing else, so every charge is CPU time.
# nobody (group nogroup) is a client, so that it reaches the run-unit check.
chmod 0755 "$T"
write_config "[Daemon]
ClientGroup=nogroup
[Money]
MinRuntimeSec=1s
$(cpu_prices 0.01)
[Enforce]
GraceSec=120s"
start_daemon
grep -q "Slice backend: systemd" "$T/prepayd.log" || fail "the daemon did not choose the systemd backend"
systemctl is-active -q prepay-s.slice || fail "prepay-s.slice is not active"

# show UNIT PROPERTY: one property of a unit, as systemctl shows it.
show() { systemctl show -p "$2" --value "$1"; }

# procs SLICE: live processes in the slice's cgroup and below.
procs() {
        local d
        d=$(cg_dir "" "$1")
        [ -n "$d" ] || { echo 0; return; }
        find "$d" -name cgroup.procs -exec cat {} + | wc -l
}

# buy LOGNAME VOUCHER-AMOUNT [RUN-ARGS...] -- CMD: a slice, its id in $s.
buy() {
        local log=$T/$1.err amount=$2
        shift 2
        bg prepay run --voucher "$(mint "$amount")" "$@" >/dev/null 2>"$log"
        s=$(slice_from_log "$log") || fail "$log: no slice: $(cat "$log")"
}

# 1. A funded slice is a unit with its limits; the work is in a scope in it.
buy main 1 --cpus 0.5 --memory 256M --pids 50 -- "$BIN/tests/burn"
main=$s
unit=prepay-$main.slice
[ "$(show "$unit" ActiveState)" = active ] || fail "$unit is not active"
quota=$(show "$unit" CPUQuotaPerSecUSec)
mem=$(show "$unit" MemoryMax)
tasks=$(show "$unit" TasksMax)
say "$unit: CPUQuotaPerSecUSec=$quota MemoryMax=$mem TasksMax=$tasks"
[ "$quota" = 500ms ] || fail "CPUQuotaPerSecUSec=$quota, expected 500ms"
[ "$mem" = 268435456 ] || fail "MemoryMax=$mem, expected 268435456"
[ "$tasks" = 50 ] || fail "TasksMax=$tasks, expected 50"
cg=$(show "$unit" ControlGroup)
[ "$cg" = "/prepay.slice/prepay-s.slice/$unit" ] || fail "ControlGroup=$cg"
[ "$(slice_field "$main" .cgroup)" = "$cg" ] || fail "status shows cgroup $(slice_field "$main" .cgroup), not $cg"
[ "$(cat "$V2$cg/cpu.max")" = "50000 100000" ] || fail "cpu.max of $unit: $(cat "$V2$cg/cpu.max")"
# "prepay run" moved itself in as pid P (the scope prepay-<id>-P.scope),
# then became the burner.
scope=$(systemctl list-units --plain --no-legend "prepay-$main-*.scope" | awk '{ print $1; exit }')
pid=${scope#prepay-"$main"-}
pid=${pid%.scope}
[ -n "$scope" ] && [ -d "/proc/$pid" ] || fail "no scope for prepay run's process in $unit"
own=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
say "prepay run's work: pid $pid ($(cat "/proc/$pid/comm")) in $own"
[ "$own" = "$cg/$scope" ] || fail "the work is in $own, not in $cg/$scope"
[ "$(cat "/proc/$pid/comm")" = burn ] || fail "pid $pid in $scope is $(cat "/proc/$pid/comm"), not the burner"
[ "$(show "$scope" Slice)" = "$unit" ] || fail "$scope is not in $unit"

# An existing service's command in the slice ("prepay run --unit"): the
# copy runs as the unit's user, with its environment, in the slice.
src=$ID-src
systemd-run -q -G --unit="$src" -p User=nobody -p Environment=PREPAY_TEST_ENV=1 -p WorkingDirectory=/tmp \
        sleep 3600 || fail "systemd-run of $src failed"
copy=$(prepay run --slice "$main" --unit "$src.service" 2>"$T/unit.err") ||
        fail "prepay run --unit failed: $(cat "$T/unit.err")"
say "prepay run --unit $src.service: $copy"
[ "$copy" = "prepay-$main-$src.service" ] || fail "the copy is named $copy"
[ "$(show "$copy" ActiveState)" = active ] || fail "$copy is $(show "$copy" ActiveState)"
[ "$(show "$copy" Slice)" = "$unit" ] || fail "$copy is in $(show "$copy" Slice), not $unit"
[ "$(show "$copy" User)" = nobody ] || fail "$copy runs as $(show "$copy" User)"
show "$copy" Environment | grep -q PREPAY_TEST_ENV=1 || fail "$copy lost the environment: $(show "$copy" Environment)"
main_pid=$(show "$copy" MainPID)
[ "$(stat -c %u "/proc/$main_pid")" = 65534 ] || fail "$copy's process runs as uid $(stat -c %u "/proc/$main_pid")"
[ "$(cat "/proc/$main_pid/comm")" = sleep ] || fail "$copy runs $(cat "/proc/$main_pid/comm"), not sleep"
# A client that is no operator runs only units that run as itself: nobody
# (group nogroup, the test daemon's ClientGroup=) with the owner token may
# not start a root unit's command, and may start nobody's.
token=$(owner_token_in "$T/main.err")
[ -n "$token" ] || fail "prepay run printed no owner token: $(cat "$T/main.err")"
systemd-run -q -G --unit="$src-root" sleep 3600 || fail "systemd-run of $src-root failed"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN/prepay" "$@"; }
as_nobody run --slice "$main" --token "$token" --unit "$src-root.service" 2>"$T/unit-deny.err" &&
        fail "a client started a root unit's command in its slice"
grep -q "runs as user root, not as uid 65534" "$T/unit-deny.err" ||
        fail "the refusal does not say why: $(cat "$T/unit-deny.err")"
say "client, root unit: $(cat "$T/unit-deny.err")"
systemctl stop "$copy"
copy2=$(as_nobody run --slice "$main" --token "$token" --unit "$src.service" 2>"$T/unit2.err") ||
        fail "a client could not start its own user's unit: $(cat "$T/unit2.err")"
[ "$copy2" = "$copy" ] || fail "the client's copy is named $copy2"
# The same in a new slice, as the create's "unit" (what a remote buyer
# asks for): the copy starts once the slice is funded.
reply=$(printf 'create {"op":"create","limits":{},"cpus_milli":100,"voucher":"%s","unit":"%s.service"}\n' \
        "$(cat "$(mint 1)")" "$src" | "$BIN/tests/raw-request" "$PREPAY_SOCKET" --lines | cut -d' ' -f2-)
jq -e '.ok == true and (.unit | type) == "string"' <<<"$reply" >/dev/null || fail "create with a unit: $reply"
us=$(jq -r .slice.id <<<"$reply")
ucopy=$(jq -r .unit <<<"$reply")
[ "$ucopy" = "prepay-$us-$src.service" ] || fail "create's unit copy is named $ucopy"
[ "$(show "$ucopy" Slice)" = "prepay-$us.slice" ] || fail "$ucopy is in $(show "$ucopy" Slice), not prepay-$us.slice"
[ "$(show "$ucopy" User)" = nobody ] || fail "$ucopy runs as $(show "$ucopy" User)"
prepay release "$us" --token "$(jq -r .token <<<"$reply")" >/dev/null || fail "release of $us failed"
say "create with \"unit\": $ucopy in prepay-$us.slice"
systemctl stop "$src-root.service" "$src.service" "$copy2"

# 2. A unit started by systemd-run in the slice is metered and charged.
buy idle 1 --cpus 1 -- sleep 3600
idle=$s
extra=$ID-burn
systemd-run -q -G --unit="$extra" -p Slice="prepay-$idle.slice" "$BIN/tests/burn" >/dev/null ||
        fail "systemd-run into prepay-$idle.slice failed"
metered() {
        cpu=$(slice_field "$idle" .usage.cpu_usec)
        [ "$cpu" -ge 300000 ]
}
wait_for --every 0.2 90 metered
kcpu=$(kernel_cpu_usec "$idle")
say "$extra in prepay-$idle.slice: meter ${cpu}us, kernel ${kcpu}us of CPU"
[ "$cpu" -ge 300000 ] || fail "the systemd-run unit was not metered (${cpu}us)"
# Charges are written at least every second.
cpu_charged() {
        charged=$(prepay ledger export --json --ledger "$LEDGER" |
                jq -r --arg s "$idle" '.slices[] | select(.id == $s) | .charged.cpu')
        [ "${charged:-0}" -gt 0 ]
}
wait_for 3 cpu_charged
say "ledger: prepay-$idle.slice charged $charged for CPU"
[ "${charged:-0}" -gt 0 ] || fail "no CPU charge in the ledger for the systemd-run unit"
systemctl kill --signal=KILL "$extra.service" 2>/dev/null

# 3. Throttle at the end of the balance: the quota shows in systemd.
buy throttle 0.005 --cpus 0.5 --exhausted-action throttle -- "$BIN/tests/burn"
thr=$s
wait_state "$thr" throttled 60 || fail "not throttled: $(prepay status "$thr")"
quota=$(show "prepay-$thr.slice" CPUQuotaPerSecUSec)
say "throttled: CPUQuotaPerSecUSec=$quota, cpu.max $(cat "$(cg_dir "" "$thr")/cpu.max")"
[ "$quota" = 10ms ] || fail "throttled slice has CPUQuotaPerSecUSec=$quota, expected 10ms (ThrottleCPU=0.01)"
prepay topup "$thr" --voucher "$(mint 0.05)" >/dev/null || fail "top-up of the throttled slice failed"
quota=$(show "prepay-$thr.slice" CPUQuotaPerSecUSec)
[ "$quota" = 500ms ] || fail "topped-up slice has CPUQuotaPerSecUSec=$quota, expected 500ms again"

# 4. Freeze: FreezerState=frozen; a top-up thaws it.
buy freeze 0.005 --cpus 0.5 --exhausted-action freeze -- "$BIN/tests/burn"
frz=$s
wait_state "$frz" frozen 60 || fail "not frozen: $(prepay status "$frz")"
state=$(show "prepay-$frz.slice" FreezerState)
say "frozen: FreezerState=$state, cgroup.events frozen $(sed -n 's/^frozen //p' "$(cg_dir "" "$frz")/cgroup.events")"
[ "$state" = frozen ] || fail "FreezerState=$state, expected frozen"
say "daemon: $(grep -o "Froze slice $frz in [0-9]* us" "$T/prepayd.log" | tail -1) (FreezeUnit until cgroup.events says frozen)"
a=$(kernel_cpu_usec "$frz")
sleep 0.5
b=$(kernel_cpu_usec "$frz")
[ "$a" = "$b" ] || fail "the frozen slice still used CPU (${a}us -> ${b}us)"
prepay topup "$frz" --voucher "$(mint 0.05)" >/dev/null || fail "top-up of the frozen slice failed"
state=$(show "prepay-$frz.slice" FreezerState)
say "topped up: FreezerState=$state, enforcement $(slice_field "$frz" .account.enforcement)"
[ "$state" = running ] || fail "FreezerState=$state after the top-up, expected running"

# 5. Kill: nothing left in the slice, which stays (with its balance).
buy kill 0.005 --cpus 0.5 --exhausted-action kill -- sh -c "\"$BIN/tests/burn\" & \"$BIN/tests/burn\""
kil=$s
wait_state "$kil" killed 60 || fail "not killed: $(prepay status "$kil")"
no_procs() { [ "$(procs "$1")" = 0 ]; }
wait_for 10 no_procs "$kil"
n=$(procs "$kil")
say "killed: $n processes left, prepay-$kil.slice $(show "prepay-$kil.slice" ActiveState)"
[ "$n" = 0 ] || fail "$n processes left in the killed slice"

# 6. A restarted daemon adopts the slices, balances and all.
before=$(slice_field "$main" .account.balance)
id_before=$(slice_field "$main" .cgroup_id)
stop_daemon
systemctl is-active -q "$unit" || fail "$unit did not outlive the daemon"
start_daemon
grep -q "Slice $main adopted" "$T/prepayd.log" || fail "slice $main not adopted after the restart"
after=$(slice_field "$main" .account.balance)
credited=$(slice_field "$main" .account.credited)
say "restart: balance $before before, $after after (credited $credited), cgroup id $(slice_field "$main" .cgroup_id)"
[ "$credited" = 1000000 ] || fail "credited $credited after the restart, expected 1000000"
[ "$after" -le "$before" ] && [ "$after" -gt 0 ] || fail "balance $after after the restart, $before before"
[ "$(slice_field "$main" .cgroup_id)" = "$id_before" ] || fail "the adopted slice has another cgroup id"
[ "$(slice_field "$main" .state)" = running ] || fail "the adopted slice is $(slice_field "$main" .state)"

# 7. Release removes the unit (and its scope).
for v in $main $idle $thr $frz $kil; do
        prepay release "$v" >/dev/null 2>"$T/release.err" || fail "release of $v failed: $(cat "$T/release.err")"
done
for v in $main $idle $thr $frz $kil; do
        st=$(show "prepay-$v.slice" ActiveState)
        [ "$st" = inactive ] || fail "prepay-$v.slice is $st after release"
done
[ "$(show "$scope" ActiveState)" = inactive ] || fail "$scope is $(show "$scope" ActiveState) after release"
# Limits set at run time went into drop-ins systemd removes with the
# transient unit.
left=$(for v in $main $idle $thr $frz $kil; do
        ls -d /run/systemd/transient/prepay-$v.slice* /run/systemd/system.control/prepay-$v.slice* \
                /etc/systemd/system.control/prepay-$v.slice* 2>/dev/null
done)
[ -z "$left" ] || fail "left behind after release: $left"
say "released: the five slice units are gone, with their files"

# With no slice left, a stopping daemon removes its root unit.
stop_daemon
st=$(show prepay-s.slice ActiveState)
[ "$st" = inactive ] || fail "prepay-s.slice is $st after the daemon stopped with no slice"
exit 0
