#!/bin/bash
# Enforcement at the balance edge, each action on a CPU burner funded for
# 0.5 s of CPU (0.005 EUR at 0.01 per CPU-second, 0.5 CPU): stopped with at
# most 20 ms of CPU used past the balance (40 ms in an emulated guest),
# the overshoot recorded in the ledger. Then: a frozen slice topped up
# within its grace resumes with its limits; one left alone is killed when
# the grace ends; a throttled slice topped up gets its CPU back; a killed
# slice that ignores SIGTERM and keeps forking has no process left.
#
# No step may depend on how fast the machine is. The grace a frozen slice
# gets is fixed when it is frozen, so the slice topped up "within its
# grace" is frozen under GraceSec=1h (however slowly the steps between run,
# its grace cannot end first), and the one left alone under GraceSec=2s,
# set by a reload just before it is bought; its kill is awaited as the
# daemon reports it. The burners run until the test ends them.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 240

# config GRACE: a cent per CPU-second (memory, traffic out and I/O free),
# and GRACE for a frozen slice before it is killed.
config() { write_cpu_priced_config "GraceSec=$1"; }
config 1h
start_daemon

# buy ACTION [RUN-ARGS...] -- CMD: a slice funded for 0.5 s of CPU at 0.5
# CPU, its id in $s. (Not as $(buy ...): the command substitution would
# wait for the burner, which holds a copy of its pipe.)
buy() {
        local action=$1 log
        shift
        log=$(mktemp "$T/run.XXXXXX")
        bg prepay run --voucher "$(mint 0.005)" --cpus 0.5 --exhausted-action "$action" "$@" >/dev/null 2>"$log"
        s=$(slice_from_log "$log")
}

# At most 20 ms of CPU past the balance. Not so in an emulated guest
# (TCG): its vCPUs are threads of one host process, and on a busy host the
# daemon's vCPU may wait for the host's scheduler while the burner's runs
# on, so its timer wakes late by however busy the host is; through the
# systemd backend each action is also a D-Bus call to an emulated systemd
# (FreezeUnit returns once the cgroup says frozen) of 6-600 ms. There the
# bound is 1 s and the figures printed are what count (20-40 ms on an idle
# host); on hardware it stays 20 ms. The overshoot is in the books either way.
LIMIT=20000
[ "$EMULATED" = 1 ] && LIMIT=1000000

# The CPU a slice used past its 0.5 s, in us, from the ledger's overshoot
# (0.01 per CPU-second: one micro-unit is 100 us) and from the meter.
past_balance() {
        local cpu
        cpu=$(slice_field "$1" .usage.cpu_usec)
        echo $((cpu - 500000))
}

for action in kill freeze throttle; do
        buy "$action" -- "$BIN/tests/burn" 600 || fail "$action: no slice"
        wait_state "$s" "$([ $action = kill ] && echo killed || ([ $action = freeze ] && echo frozen || echo throttled))" 5 ||
                fail "$action: not enforced within 5 s: $(prepay status "$s")"
        # The two reads are bracketed by the clock: through a slow CLI (an
        # emulated guest's) they are further apart than the 0.5 s between.
        t_a=$(date +%s%6N)
        past=$(past_balance "$s")
        sleep 0.5
        later=$(past_balance "$s")
        t_b=$(date +%s%6N)
        over=$(slice_field "$s" .account.overshoot)
        say "$action: ${past}us of CPU past the balance when enforced, ${later}us 0.5 s later; overshoot in the ledger $over"
        [ "$past" -le "$LIMIT" ] || fail "$action: ${past}us of CPU used past the balance (at most $LIMIT)"
        case $action in
        kill)
                [ "$(slice_field "$s" .usage.pids_current)" = 0 ] || fail "kill: processes left"
                ;;
        freeze)
                [ "$later" = "$past" ] || fail "freeze: CPU still used while frozen (${past} -> ${later})"
                ;;
        throttle)
                # ThrottleCPU=0.01 of the time between the reads (5 ms in
                # 0.5 s), plus a period's slack.
                allowed=$(((t_b - t_a) / 100 + 10000))
                [ $((later - past)) -le "$allowed" ] ||
                        fail "throttle: $((later - past))us used in $(((t_b - t_a) / 1000)) ms while throttled (at most ${allowed}us)"
                ;;
        esac
        grep -q "Slice $s.*exhausted" "$T/prepayd.log" || grep -q "$s.*exhausted" "$T/prepayd.log" ||
                fail "$action: no exhausted event logged"
        eval "slice_$action=$s"
done

# cpu_rate SLICE: milli-CPUs it used over about a second of wall time:
# the kernel's own counter, read directly, each read next to its clock
# read (asking the daemon takes long in an emulated guest).
cpu_rate() {
        local a b t0 t1
        a=$(kernel_cpu_usec "$1")
        t0=$(date +%s%N)
        sleep 1
        b=$(kernel_cpu_usec "$1")
        t1=$(date +%s%N)
        echo $(((b - a) * 1000000 / (t1 - t0)))
}

# restored_in SLICE: the restore is done inside the top-up request: the
# slice is ok as soon as the top-up returns, and the daemon's "thawed"
# event follows its "topped-up" within 100 ms (daemon time, so that a
# slow emulated guest measures the daemon, not the CLI's start). Through
# the emulated guest's systemd a restore is two D-Bus calls of 10-600 ms
# each: there the bound is 1 s, as for LIMIT above.
RESTORE_LIMIT=100000
[ "$EMULATED" = 1 ] && [ "${PREPAY_TEST_BACKEND:-cgroupfs}" = systemd ] && RESTORE_LIMIT=1000000
restored_in() {
        local us
        # ok, or already low again: 0.05 EUR lasts 10 s at 0.5 CPU, under LowBalanceSec=60s.
        case $(slice_field "$1" .account.enforcement) in
        ok | low) ;;
        *) fail "$1 not restored when its top-up returned" ;;
        esac
        us=$(prepay ledger export --json --ledger "$LEDGER" | jq --arg s "$1" '
                [.events[] | select(.slice == $s)] as $e |
                ([$e[] | select(.kind == "thawed")] | last.time_usec) -
                ([$e[] | select(.kind == "topped-up")] | last.time_usec)')
        say "$1: thawed ${us}us after its top-up"
        [ -n "$us" ] && [ "$us" != null ] || fail "$1: no thawed event after its top-up"
        [ "$us" -ge 0 ] && [ "$us" -le "$RESTORE_LIMIT" ] ||
                fail "$1 restored ${us}us after its top-up (at most $((RESTORE_LIMIT / 1000)) ms)"
}

# A restored slice runs again at its limit. What a burner gets of its
# 0.5 CPU depends on the machine's load (on a busy host it gets its share
# of the cores; an emulated guest's clock is the host's, so its CPUs run
# less than the guest's time says), so: the kernel's limit read back
# (500 milli-CPUs) says the limit is restored, a floor of ten times the
# throttle (0.01 CPU), which nothing throttled or frozen reaches, says the
# slice runs again, and at most 560 that the limit holds.
FLOOR=100

# The throttled one, topped up: its 0.5 CPU back within 100 ms.
prepay topup "$slice_throttle" --voucher "$(mint 0.05)" >/dev/null || fail "top-up of the throttled slice failed"
restored_in "$slice_throttle"
milli=$(cpu_rate "$slice_throttle")
limit=$(kernel_cpu_limit_milli "$slice_throttle")
say "throttled, topped up: $milli milli-CPUs over the next second (the kernel's limit: $limit)"
[ "$limit" = 500 ] || fail "the kernel limits the topped-up slice to $limit milli-CPUs, not its 500"
[ "$milli" -ge "$FLOOR" ] || fail "the throttled slice did not get its CPU back"
[ "$(slice_field "$slice_throttle" .limits.cpu_quota_usec)" -gt 0 ] || fail "no CPU limit after restore"

# The frozen one, topped up within its grace: thawed, runs at its limit.
prepay topup "$slice_freeze" --voucher "$(mint 0.05)" >/dev/null || fail "top-up of the frozen slice failed"
restored_in "$slice_freeze"
milli=$(cpu_rate "$slice_freeze")
limit=$(kernel_cpu_limit_milli "$slice_freeze")
say "frozen, topped up: $milli milli-CPUs over the next second (the kernel's limit: $limit)"
[ "$limit" = 500 ] || fail "the kernel limits the thawed slice to $limit milli-CPUs, not its 500"
[ "$milli" -ge "$FLOOR" ] && [ "$milli" -le 560 ] || fail "the thawed slice does not run at its 0.5 CPU limit"

# A frozen one left alone: killed when its grace ends. GraceSec=2s from a
# reload, which applies to slices frozen after it ("prepay reload" answers
# once the new configuration is in force).
config 2s
prepay reload >/dev/null || fail "reload to GraceSec=2s failed"
buy freeze -- "$BIN/tests/burn" 600 || fail "no slice"
# State and processes from one reply: the 2 s grace may end between two
# (a status round trip in an emulated guest takes a good part of it).
frozen_status() {
        prepay status "$1" --json >"$T/frozen.json" &&
                [ "$(jq -r .account.enforcement "$T/frozen.json")" = frozen ]
}
wait_for 10 frozen_status "$s" || fail "not frozen"
[ "$(jq -r .usage.pids_current "$T/frozen.json")" -gt 0 ] || fail "frozen slice has no process"
grep -q "Slice $s.*killed in 2s unless topped up" "$T/prepayd.log" || fail "the slice was not frozen with a 2 s grace"
# The grace is 2 s of daemon time; allow a minute and a half of polling
# for a slow machine.
wait_state "$s" killed 90 || fail "not killed when the grace ended"
say "frozen and left alone: killed at the end of its grace"
[ "$(slice_field "$s" .usage.pids_current)" = 0 ] || fail "processes left after the grace kill"

cgroup_empty() { [ ! -s "$(cg_dir "" "$1")/cgroup.procs" ]; }

# Killing processes that ignore SIGTERM and keep forking (bounded by 64 tasks).
buy kill --pids 64 -- sh -c 'trap "" TERM; while :; do sh -c "trap \"\" TERM; while :; do :; done" & sleep 0.01; done' ||
        fail "no slice"
wait_state "$s" killed 20 || fail "fork bomb not killed"
wait_for 1 cgroup_empty "$s"
# Live processes: the v2 cgroup's members (zombies are not listed; they
# wait for this machine's PID 1 to reap them, and pids.current counts them
# until then).
n=$(wc -l <"$(cg_dir "" "$s")/cgroup.procs")
say "forking, SIGTERM-deaf slice killed: $n processes left, state $(slice_field "$s" .state)"
[ "$n" = 0 ] || fail "$n processes left in the killed slice"
[ "$(slice_field "$s" .state)" = empty ] || fail "the killed slice is still populated"

for v in $slice_kill $slice_freeze $slice_throttle $s; do prepay release "$v" >/dev/null 2>&1; done
exit 0
