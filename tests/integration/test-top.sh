#!/bin/bash
# prepay top on a terminal, as a person sees it: in a detached tmux session
# of a fixed size (its own server, on a socket in the test's directory),
# keys sent with send-keys and the screen read with capture-pane. A slice
# burning CPU on 0.02 EUR (0.01 EUR per CPU-second at 0.5 CPU: about 4 s)
# is on the screen, its balance goes down between two captures, "t" sorts
# by time left (the header says so, and it comes before a slice with fifty
# times its money), "b" back by burn, and its state turns "frozen" when it
# is spent under ExhaustedAction freeze; "q" quits and the pane's process
# exits 0. A resized terminal is redrawn at its size, and SIGTERM leaves
# the terminal as top found it. Then --once and --json, for scripts: no
# escape sequences, the figures the daemon reports.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 120

command -v tmux >/dev/null || skip "tmux is not installed (packaging/build-deps installs it)"

TMUX_SOCK=$T/tmux.sock
tm() { tmux -S "$TMUX_SOCK" "$@"; }
# The test's tmux server goes with the test, whatever happened.
top_cleanup() {
        local rc=$?
        tm kill-server 2>/dev/null
        (exit "$rc")
        cleanup
}
trap top_cleanup EXIT

write_cpu_priced_config GraceSec=1h
start_daemon

# buy AMOUNT CPUS: a burner funded with AMOUNT, frozen when spent; its id in $s.
buy() {
        local log
        log=$(mktemp "$T/run.XXXXXX")
        bg prepay run --voucher "$(mint "$1")" --cpus "$2" --exhausted-action freeze -- "$BIN/tests/burn" 600 \
                >/dev/null 2>"$log"
        s=$(slice_from_log "$log") || fail "no slice"
}
buy 1.0 0.1
rich=$s
buy 0.02 0.5
poor=$s
burning() { [ "$(slice_field "$1" .account.burn_rate)" -gt 0 ]; }
wait_for 10 burning "$poor" || fail "the slice does not burn"

# remain-on-exit from the start: the pane's exit status is asserted.
echo "set -g remain-on-exit on" >"$T/tmux.conf"
tm -f "$T/tmux.conf" new-session -d -s top -x 132 -y 12 \
        "env PREPAY_SOCKET=$PREPAY_SOCKET TERM=xterm LANG=C.UTF-8 $BIN/prepay top -d 0.2" ||
        fail "tmux did not start"

screen() { tm capture-pane -p -t top; }
# row SLICE FIELD: a field of the slice's line on the screen (2: state, 6:
# the balance's amount).
row() { screen | awk -v id="$1" -v f="$2" '$1 == id { print $f }'; }
shows() { [[ "$(screen)" == *"$1"* ]]; }
balance_below() {
        local b
        b=$(row "$poor" 6)
        [ -n "$b" ] && awk -v a="$b" -v b="$1" 'BEGIN { exit !(a + 0 < b + 0) }'
}

wait_for 10 shows "$poor" || fail "the slice is not on the screen: $(screen)"
shows "sorted by burn" || fail "no sort in the header: $(screen)"
first=$(row "$poor" 6)
[ -n "$first" ] || fail "no balance on the slice's line: $(screen)"
wait_for 10 balance_below "$first" || fail "the balance did not go down from $first: $(screen)"
say "on the screen: $(screen | grep -- "$poor")"
say "balance $first, then $(row "$poor" 6)"

# By time left the nearest to spent comes first; the header says so.
tm send-keys -t top t
wait_for 5 shows "sorted by time left" || fail "t did not sort by time left: $(screen)"
order=$(screen | awk '$1 ~ /^s-/ { print $1 }' | tr '\n' ' ')
[ "$order" = "$poor $rich " ] || fail "by time left the poor slice is not first: $order"
tm send-keys -t top b
wait_for 5 shows "sorted by burn" || fail "b did not sort by burn again: $(screen)"

wait_for 20 field_is "$poor" .account.enforcement frozen || fail "the slice was not frozen"
frozen_shown() { [ "$(row "$poor" 2)" = frozen ]; }
wait_for 5 frozen_shown || fail "the screen does not show the slice frozen: $(screen)"
say "frozen on the screen: $(screen | grep -- "$poor")"

tm send-keys -t top q
# tmux marks the pane dead when its terminal closes, and learns the exit
# status a moment later, from SIGCHLD: wait for the status itself.
dead_status() { tm display-message -p -t top '#{?pane_dead,#{pane_dead_status} #{pane_dead_signal},}'; }
dead() { [[ "$(dead_status)" != "" && "$(dead_status)" != " " ]]; }
wait_for 5 dead || fail "q did not end prepay top"
status=$(dead_status)
[ "$status" = "0 " ] || fail "prepay top exited with status and signal '$status': $(screen)"

# SIGWINCH: redrawn at the new size, the footer on the last line. SIGTERM:
# the terminal as it was found (the shell after top reads its modes back),
# the main screen back; the pane stays to be read (remain-on-exit).
tm new-session -d -s sig -x 132 -y 12 \
        "env PREPAY_SOCKET=$PREPAY_SOCKET TERM=xterm LANG=C.UTF-8 $BIN/prepay top -d 0.2; stty -a >$T/stty.after" ||
        fail "tmux did not start a second session"
sig_screen() { tm capture-pane -p -t sig; }
footer_last() { [[ "$(sig_screen | tail -n 1)" == "b: sort by burn"* ]]; }
wait_for 10 footer_last || fail "no footer on the last line: $(sig_screen)"
tm resize-window -t sig -x 90 -y 8
# Lines cut, not wrapped: the header first, each slice on one row.
small() {
        [ "$(sig_screen | wc -l)" = 8 ] && footer_last && [ "$(sig_screen | LC_ALL=C.UTF-8 wc -L)" -le 90 ] &&
                [[ "$(sig_screen | head -n 1)" == "2 slices, burning"* ]] &&
                [ "$(sig_screen | sed -n 3,4p | cut -c 1-2 | tr -d '\n')" = s-s- ]
}
wait_for 5 small || fail "not redrawn at 90x8: $(sig_screen)"
top_pid=$(pgrep -P "$(tm display-message -p -t sig '#{pane_pid}')" -x prepay) || fail "no prepay top in the pane"
kill -TERM "$top_pid"
wait_for 5 test -s "$T/stty.after" || fail "prepay top did not end on SIGTERM"
grep -Eq '(^| )icanon( |$)' "$T/stty.after" && grep -Eq '(^| )echo( |$)' "$T/stty.after" ||
        fail "the terminal's modes were not restored: $(cat "$T/stty.after")"
[ "$(tm display-message -p -t sig '#{alternate_on}')" = 0 ] || fail "the alternate screen is still on after SIGTERM"
say "resized to 90x8 and redrawn; SIGTERM left the terminal as it was"

# For scripts: one frame, no escapes; the daemon's figures as JSON.
prepay top --once >"$T/once.out" || fail "top --once failed"
grep -q -- "^$poor  *frozen " "$T/once.out" || fail "--once does not show the frozen slice: $(cat "$T/once.out")"
! grep -q $'\033' "$T/once.out" || fail "--once wrote escape sequences"
prepay top --json >"$T/top.json" || fail "top --json failed"
[ "$(jq -r --arg id "$poor" '.[] | select(.id == $id) | .enforcement' "$T/top.json")" = frozen ] ||
        fail "--json: the slice is not frozen: $(cat "$T/top.json")"
[ "$(jq -r --arg id "$rich" '.[] | select(.id == $id) | .balance > 0 and .currency == "EUR"' "$T/top.json")" = true ] ||
        fail "--json: no balance for the rich slice: $(cat "$T/top.json")"
say "--once and --json agree with the daemon"

for v in $poor $rich; do prepay release "$v" >/dev/null 2>&1; done
exit 0
