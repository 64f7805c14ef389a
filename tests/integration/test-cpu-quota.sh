#!/bin/bash
# A CPU quota sent as it is (not --cpus) is held against MaxCPUs= exactly
# and in arithmetic that cannot wrap: 18446744073709552 us x 1000 once
# wrapped to 0 CPUs, passed MaxCPUs=1 and was priced as nothing much.
# Refused with a sentence, funded or not, and nothing spent; a quota of
# exactly MaxCPUs x the period is taken as asked.
. "$(dirname "$0")/lib.sh"

write_config "[Limits]
MaxCPUs=1
CPUPeriod=100ms
[Prices]
CPUSecond=0.01"
start_daemon

HUGE=18446744073709552

# create LIMITS-JSON [VOUCHER-FILE]: a raw create request; prints the reply.
create() {
        local v=
        [ -n "${2:-}" ] && v=",\"voucher\":$(jq -Rs . <"$2")"
        printf '{"version":1,"op":"create","limits":%s%s}' "$1" "$v" |
                "$BIN/tests/raw-request" "$PREPAY_SOCKET" || fail "no reply to a create with limits $1"
}

# refused LIMITS-JSON PATTERN [VOUCHER-FILE]: the create is refused, its
# error matches PATTERN, and no slice was made.
refused() {
        local out
        out=$(create "$1" "${3:-}")
        [ "$(jq -r .ok <<<"$out")" = false ] || fail "a create with limits $1 was accepted: $out"
        grep -qF -- "$2" <<<"$(jq -r .error <<<"$out")" || fail "limits $1: the refusal says '$(jq -r .error <<<"$out")', expected '$2'"
        [ "$(prepay list --json | jq length)" = 0 ] || fail "limits $1: refused, yet a slice is listed"
        say "limits $1${3:+ (funded)}: $(jq -r .error <<<"$out")"
}

refused "{\"cpu_quota_usec\":$HUGE}" \
        "A CPU quota of $HUGE us per 100000 us period is more than the 1.000 CPUs allowed (MaxCPUs=)"
refused "{\"cpu_quota_usec\":$HUGE,\"cpu_period_usec\":1000}" \
        "A CPU quota of $HUGE us per 1000 us period is more than the 1.000 CPUs allowed (MaxCPUs=)"
# Rounded down, 100001 us per 100000 us read as 1.000 CPUs and passed.
refused '{"cpu_quota_usec":100001,"cpu_period_usec":100000}' \
        "A CPU quota of 100001 us per 100000 us period is more than the 1.000 CPUs allowed (MaxCPUs=)"

# Exactly MaxCPUs x the period: taken, and the quota is the one asked for.
out=$(create '{"cpu_quota_usec":50000,"cpu_period_usec":50000}')
s=$(jq -r .slice.id <<<"$out")
[ "$(jq -r .ok <<<"$out")" = true ] && [ -n "$s" ] || fail "a quota of MaxCPUs x the period was refused: $out"
[ "$(slice_field "$s" .limits.cpu_quota_usec)/$(slice_field "$s" .limits.cpu_period_usec)" = 50000/50000 ] ||
        fail "the slice's quota is not the 50000 us per 50000 us asked for: $(prepay status "$s" --json | jq -c .limits)"
prepay destroy "$s" >/dev/null || fail "destroy of the 1-CPU slice failed"

# With money: refused before it is priced or spent.
v=$(mint 5.00)
vouchers() { prepay ledger export --json --ledger "$LEDGER" | jq '.vouchers | length'; }
spent=$(vouchers)
refused "{\"cpu_quota_usec\":$HUGE}" \
        "A CPU quota of $HUGE us per 100000 us period is more than the 1.000 CPUs allowed (MaxCPUs=)" "$v"
[ "$(vouchers)" = "$spent" ] || fail "the refused create spent its voucher"
# The voucher is still good.
prepay run --voucher "$v" --cpus 1 -- true 2>"$T/run.err" || fail "the voucher of a refused create did not buy a slice: $(cat "$T/run.err")"
[ "$(vouchers)" = $((spent + 1)) ] || fail "the voucher was not spent by the create that was taken"
say "the voucher of the refused create bought a 1-CPU slice afterwards"
exit 0
