#!/bin/bash
# Slice events end to end: an OOM kill reaches "prepay events --json" and
# the ledger's "events"; a funded slice that spends its balance runs the
# OnExhausted= hook without a shell (its argv exactly the config's words,
# "$(touch ...)" not run, the environment exactly the documented one); an
# OnLowBalance= hook that hangs is killed, with its children, after
# HookTimeoutSec=; "prepay events" exits 1 when the daemon stops.
. "$(dirname "$0")/lib.sh"


# The hook writes its argv, the environment it was given (as execve passed
# it, not as a shell would add to it) and its open descriptors, then
# renames the file into place so that a reader never sees half of it.
cat >"$T/hook.sh" <<'EOF'
#!/bin/sh
{
        printf 'argc=%d\n' "$#"
        printf 'argv[0]=%s\n' "$0"
        i=1
        for a in "$@"; do
                printf 'argv[%d]=%s\n' "$i" "$a"
                i=$((i + 1))
        done
        tr '\0' '\n' </proc/$$/environ | sed 's/^/env:/'
        # What a program the hook runs inherits (ls's own fd 3 aside).
        ls -l /proc/self/fd | sed -n 's/.* \([0-9]*\) -> \(.*\)/fd:\1 \2/p'
} >"@T@/hook.out.tmp"
mv "@T@/hook.out.tmp" "@T@/hook.out"
EOF
# The low-balance hook hangs, with a child in its process group.
cat >"$T/slow.sh" <<'EOF'
#!/bin/sh
echo $$ >"@T@/slow.pid"
sleep 300 &
echo $! >"@T@/slow-child.pid"
wait
EOF
sed -i "s|@T@|$T|g" "$T/hook.sh" "$T/slow.sh"
chmod 0755 "$T/hook.sh" "$T/slow.sh"

# A euro per CPU-second: a slice bought for 2.00 with one CPU spends its
# balance in about 2 s, and is under LowBalanceSec= (60s) from the start.
# inih takes " ;" as the start of a comment, so the ";" word is "x;id".
write_config "[Money]
MinRuntimeSec=1s
[Prices]
CPUSecond=1
[Enforce]
ExhaustedAction=kill
OnExhausted=$T/hook.sh literal '\$(touch $T/pwned)'   x;id
OnLowBalance=$T/slow.sh
HookTimeoutSec=1s"
start_daemon

# jq_any JQ-ARGS...: true when the filter outputs something (jq 1.6's -e
# is true on empty input).
jq_any() { [ -n "$(jq -c "$@" 2>/dev/null)" ]; }
subscribed() { [ "$(grep -c "subscribed to events" "$T/prepayd.log")" -ge "$1" ]; }

bg prepay events --json >"$T/events.json" 2>"$T/events.err"
json_pid=${BG_PIDS[-1]}
wait_for 5 subscribed 1 || fail "prepay events did not subscribe: $(cat "$T/events.err")"

# --- an OOM kill, on an unfunded slice (AllowUnfunded=yes, root) ---
prepay run --memory 64M -- "$BIN/tests/memhog" 200 1 >/dev/null 2>"$T/run.err"
rc=$?
s=$(slice_from_log "$T/run.err") || fail "no slice"
[ "$rc" -eq 137 ] || fail "memhog exited $rc, expected to be OOM-killed (137)"

oom_event() { jq_any --arg s "$s" 'select(.slice == $s and .kind == "oom")' "$T/events.json"; }
wait_for 5 oom_event || fail "no oom event for $s on the stream: $(cat "$T/events.json" "$T/events.err")"
ev=$(jq -c --arg s "$s" 'select(.slice == $s and .kind == "oom")' "$T/events.json" | head -1)
say "stream: $ev"
jq_any 'select(.funded == false and .owner_uid == 0 and .currency == "EUR" and .time_usec > 0)' <<<"$ev" ||
        fail "oom event fields: $ev"
jq_any 'select(.reason == "1 process OOM-killed at its memory limit 64.0M")' <<<"$ev" ||
        fail "oom event reason: $ev"
grep -q "Slice $s: event oom (unfunded): 1 process OOM-killed at its memory limit 64.0M." "$T/prepayd.log" ||
        fail "the daemon did not log the oom event once, as documented"
[ "$(grep -c "Slice $s: .*OOM-killed" "$T/prepayd.log")" -eq 1 ] || fail "the OOM kill was logged more than once"

# In the ledger, committed (read by another process, from the file).
ledger_oom() {
        prepay ledger export --json --ledger "$LEDGER" >"$T/export.json" 2>"$T/export.err" &&
                jq_any --arg s "$s" '.events[] | select(.slice == $s and .kind == "oom")' "$T/export.json"
}
wait_for 5 ledger_oom || fail "no oom event for $s in the ledger export: $(cat "$T/export.err")"
# Events are in the export from schema 2; funders' credits from 3. Each
# later schema keeps what an earlier one exported.
jq_any 'select(.schema >= 3)' "$T/export.json" || fail "ledger export is older than schema 3"
say "ledger: $(jq -c --arg s "$s" '.events[] | select(.slice == $s)' "$T/export.json")"

# --- a funded slice runs out: hooks ---
v=$(mint 2.00)
bg prepay run --voucher "$v" --cpus 1 -- "$BIN/tests/burn" 10 2>"$T/run2.err"
s2=$(slice_from_log "$T/run2.err") || fail "no funded slice: $(cat "$T/run2.err")"
bg prepay events "$s2" >"$T/events2.txt" 2>"$T/events2.err"
wait_for 5 subscribed 2 || fail "prepay events $s2 did not subscribe: $(cat "$T/events2.err")"

wait_for 10 test -f "$T/hook.out" || fail "slice $s2 spent its balance, but no OnExhausted= hook ran within 10 s"
say "hook output:"
sed 's/^/  | /' "$T/hook.out"

# argv: the config's words as written, nothing interpreted.
want_argv="argc=4
argv[0]=$T/hook.sh
argv[1]=literal
argv[2]='\$(touch
argv[3]=$T/pwned)'
argv[4]=x;id"
got_argv=$(grep '^arg' "$T/hook.out")
[ "$got_argv" = "$want_argv" ] || fail "hook argv:
$got_argv
expected:
$want_argv"
[ -e "$T/pwned" ] && fail "the hook command went through a shell: $T/pwned exists"

# Nothing of the daemon's is open in it (no ledger, socket, BPF object, or
# whatever the daemon itself inherited): stdin /dev/null, stderr the
# daemon's log (stdout here is the hook's own pipe to sed).
want_fds="fd:0 /dev/null
fd:1 pipe
fd:2 $T/prepayd.log"
got_fds=$(grep '^fd:' "$T/hook.out" | grep -v '^fd:3 /proc/' | sed 's/^fd:1 pipe:.*/fd:1 pipe/')
[ "$got_fds" = "$want_fds" ] || fail "the hook's descriptors:
$got_fds
expected:
$want_fds"

# The environment: exactly these variables.
hook_env() { sed -n "s/^env:$1=//p" "$T/hook.out"; }
[ "$(grep -c '^env:' "$T/hook.out")" -eq 11 ] || fail "hook environment is not exactly the 11 documented variables"
[ "$(grep '^env:' "$T/hook.out" | cut -d= -f1 | sort | tr '\n' ' ')" = \
        "env:PATH env:PREPAY_BALANCE env:PREPAY_BALANCE_TEXT env:PREPAY_BURN_RATE env:PREPAY_CURRENCY env:PREPAY_EVENT env:PREPAY_OWNER_UID env:PREPAY_REASON env:PREPAY_SLICE env:PREPAY_TIME_LEFT_USEC env:PREPAY_TIME_USEC " ] ||
        fail "hook environment has other variables than documented"
[ "$(hook_env PATH)" = /usr/sbin:/usr/bin:/sbin:/bin ] || fail "hook PATH=$(hook_env PATH)"
[ "$(hook_env PREPAY_EVENT)" = exhausted ] || fail "PREPAY_EVENT=$(hook_env PREPAY_EVENT)"
[ "$(hook_env PREPAY_SLICE)" = "$s2" ] || fail "PREPAY_SLICE=$(hook_env PREPAY_SLICE), expected $s2"
[ "$(hook_env PREPAY_CURRENCY)" = EUR ] || fail "PREPAY_CURRENCY=$(hook_env PREPAY_CURRENCY)"
[ "$(hook_env PREPAY_OWNER_UID)" = 0 ] || fail "PREPAY_OWNER_UID=$(hook_env PREPAY_OWNER_UID)"
bal=$(hook_env PREPAY_BALANCE)
[[ $bal =~ ^-?[0-9]+$ ]] || fail "PREPAY_BALANCE=$bal is not micro-units"
[[ $(hook_env PREPAY_BALANCE_TEXT) =~ ^-?[0-9]+\.[0-9]{2,6}$ ]] || fail "PREPAY_BALANCE_TEXT=$(hook_env PREPAY_BALANCE_TEXT)"
[[ $(hook_env PREPAY_BURN_RATE) =~ ^[0-9]+$ ]] || fail "PREPAY_BURN_RATE=$(hook_env PREPAY_BURN_RATE)"
[[ $(hook_env PREPAY_TIME_LEFT_USEC) =~ ^[0-9]+$ ]] || fail "PREPAY_TIME_LEFT_USEC=$(hook_env PREPAY_TIME_LEFT_USEC)"
[ -n "$(hook_env PREPAY_REASON)" ] || fail "PREPAY_REASON is empty"
now=$(date +%s%6N)
t=$(hook_env PREPAY_TIME_USEC)
[[ $t =~ ^[0-9]+$ ]] && [ "$t" -le "$now" ] && [ "$t" -gt $((now - 60000000)) ] ||
        fail "PREPAY_TIME_USEC=$t is not the last minute"

# On both streams (the second follows this slice only), and in the ledger.
wait_for 5 grep -q " $s2 exhausted " "$T/events2.txt" ||
        fail "prepay events $s2 did not print the exhausted event: $(cat "$T/events2.txt" "$T/events2.err")"
grep -v " $s2 " "$T/events2.txt" && fail "prepay events $s2 printed another slice's events"
say "prepay events $s2: $(grep exhausted "$T/events2.txt")"
jq_any --arg s "$s2" 'select(.slice == $s and .kind == "exhausted" and .funded)' "$T/events.json" ||
        fail "no exhausted event for $s2 on the JSON stream"

# --- the low-balance hook hung: killed after HookTimeoutSec=, its child too ---
wait_for 5 test -s "$T/slow-child.pid" || fail "the OnLowBalance= hook did not run"
wait_for 5 grep -q "Hook OnLowBalance= for slice $s2 still running after 1s (HookTimeoutSec=), killing it." \
        "$T/prepayd.log" || fail "the hanging hook was not killed after HookTimeoutSec="
gone() { ! kill -0 "$(cat "$T/slow.pid")" 2>/dev/null && ! kill -0 "$(cat "$T/slow-child.pid")" 2>/dev/null; }
wait_for 5 gone || fail "the killed hook or its child is still running"
say "OnLowBalance= hook killed after 1s with its child"

# --- the daemon stops: "prepay events" says so and exits 1 ---
stop_daemon
wait "$json_pid"
rc=$?
[ "$rc" -eq 1 ] || fail "prepay events exited $rc when the daemon stopped, expected 1"
grep -q "prepayd closed the event stream" "$T/events.err" || fail "prepay events said: $(cat "$T/events.err")"
exit 0
