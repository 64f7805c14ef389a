#!/bin/bash
# The money flow end to end: a quote; a slice bought with a voucher and
# charged for its CPU as it burns (balance, burn rate, time left); a top-up
# by someone else; release with a change voucher signed by the host, which
# buys a new slice; release again gives the same change; a slice sized to
# its funds. Every figure is checked against the rate card and the ledger.
# The buy, the top-up and the release each come with a receipt signed by
# the host key, which "prepay receipt verify" checks offline; a retried
# top-up gets the very same receipt, and a receipt changed is refused.
. "$(dirname "$0")/lib.sh"

# One cent per CPU-second and nothing else, so every charge is CPU time.
# The socket open to all, and nobody's group (nogroup) a client group, so
# that an unprivileged caller reaches the token check.
chmod 0755 "$T"
write_config "[Daemon]
SocketMode=0666
ClientGroup=nogroup
[Money]
MinRuntimeSec=2s
$(cpu_prices 0.01)"
start_daemon

q=$(prepay quote --cpus 2 --memory 1G --duration 10s --json) || fail "quote failed"
total=$(jq -r .total <<<"$q")
say "quote for 2 CPUs, 1G, 10s: total $total micro-units"
[ "$total" = 200000 ] || fail "quote total $total, expected 200000 (2 CPUs x 10 s x 0.01)"
prepay quote --cpus 2 --hours 1 | grep -q "total.*72.00 EUR" || fail "quote for 2 CPUs for 1 hour is not 72.00 EUR"

# The host key receipts are checked with: quote tells it as one line, the
# body of the .pub PEM that openssl (or prepay keygen) writes of the key.
host_key=$(jq -r .host_key <<<"$q")
openssl pkey -in "$T/state/host-issuer.key" -pubout -out "$T/host.pub" || fail "openssl cannot read the host key"
[ "$host_key" = "$(sed -n 2p "$T/host.pub")" ] ||
        fail "quote's host_key $host_key is not the host key's public PEM line: $(cat "$T/host.pub")"
[ -n "$(jq -r '.host_id // empty' <<<"$q")" ] || fail "quote tells no host_id"

# receipt_check FILE|TEXT KIND SLICE AMOUNT [JQ-CONDITION]: verified with
# the host's .pub file and with quote's one line, and its fields.
receipt_check() {
        local out
        out=$(prepay receipt verify --key-file "$T/host.pub" --json "$1") ||
                fail "the $2 receipt of $3 does not verify: $1"
        prepay receipt verify --key "$host_key" "$1" >/dev/null || fail "the $2 receipt does not verify with --key"
        prepay receipt verify --key-file "$T/state/host-issuer.key" "$1" >/dev/null ||
                fail "the $2 receipt does not verify with the host's private key file"
        jq -e --arg k "$2" --arg s "$3" --argjson a "$4" \
                ".valid and .kind == \$k and .slice == \$s and .amount == \$a and .currency == \"EUR\" and ${5:-true}" \
                <<<"$out" >/dev/null || fail "$2 receipt fields wrong: $out"
}

# 0.50 EUR: 50 s of CPU, so that however slowly the steps before the
# top-up run, the slice does not run out on the way (a slice that ran out
# and was thawed by the top-up would be a different flow).
v1=$(mint 0.50)
bg prepay run --voucher "$v1" --cpus 1 -- "$BIN/tests/burn" 600 2>"$T/run.err"
burner=${BG_PIDS[-1]}
s=$(slice_from_log "$T/run.err") || fail "no slice"
token=$(owner_token_in "$T/run.err")
[ -n "$token" ] || fail "prepay run printed no owner token"
[ -f "$PREPAY_TOKEN_DIR/$s" ] || fail "the owner token was not saved for release"
[ "$(stat -c %a "$PREPAY_TOKEN_DIR/$s")" = 600 ] || fail "the saved owner token is not mode 0600"
grep -q "$token" "$LEDGER" 2>/dev/null && fail "the owner token is stored in the ledger in clear"
v1_id=$(prepay voucher show "$v1" --json | jq -r .id)
grep -q "prepay: receipt pr1-" "$T/run.err" || fail "prepay run printed no receipt: $(cat "$T/run.err")"
[ "$(wc -l <"$PREPAY_TOKEN_DIR/$s.receipts")" = 1 ] || fail "the create's receipt was not saved beside the token"
receipt_check "$PREPAY_TOKEN_DIR/$s.receipts" create "$s" 500000 \
        ".balance == 500000 and .vouchers == [\"$v1_id\"]"

# The burn rate is the money the CPU it really gets costs: 1 CPU on an idle
# machine, its share of the cores on a busy one. That rate is taken from
# the kernel's own counter over the same 2 s.
c0=$(kernel_cpu_usec "$s") t0=$(date +%s%6N)
sleep 2
c1=$(kernel_cpu_usec "$s") t1=$(date +%s%6N)
st=$(prepay status "$s" --json) || fail "status failed"
cpu_rate=$(((c1 - c0) * 10000 / (t1 - t0)))
bal=$(jq -r .account.balance <<<"$st")
rate=$(jq -r .account.burn_rate <<<"$st")
left=$(jq -r .account.time_left_usec <<<"$st")
cpu=$(jq -r .usage.cpu_usec <<<"$st")
say "after 2 s at 1 CPU: balance $bal, burn rate $rate/s (the kernel's CPU: $cpu_rate/s), time left ${left}us, cpu ${cpu}us"
[ "$bal" -lt 500000 ] && [ "$bal" -gt 0 ] || fail "balance $bal did not go down from 500000"
within "$rate" "$cpu_rate" 25 ||
        fail "burn rate $rate/s, expected about $cpu_rate/s (the CPU it got, by the kernel, at 0.01/s)"
expect_left=$((bal * 1000000 / rate))
within "$left" "$expect_left" 5 || fail "time left $left, expected balance/rate = $expect_left"
prepay status "$s" | grep -q "balance:" || fail "status does not show the balance"

# Anyone may top up: no token, another voucher. The payer keeps the
# receipt in its own token directory; the same request again is answered
# with the same receipt, and credits nothing more.
v2=$(mint 0.05)
v2_id=$(prepay voucher show "$v2" --json | jq -r .id)
PREPAY_TOKEN= PREPAY_TOKEN_DIR=$T/payer prepay topup "$s" --voucher "$v2" --request-id topup-1 >"$T/topup.out" ||
        fail "top-up failed: $(cat "$T/topup.out")"
grep -q "topped up with 0.05 EUR" "$T/topup.out" || fail "top-up output: $(cat "$T/topup.out")"
credited=$(slice_field "$s" .account.credited)
[ "$credited" = 550000 ] || fail "credited $credited after a top-up, expected 550000"
receipt_check "$T/payer/$s.receipts" topup "$s" 50000 \
        ".request_id == \"topup-1\" and .balance > 50000 and .balance <= 550000 and .vouchers == [\"$v2_id\"]"
again=$(PREPAY_TOKEN_DIR=$T/payer prepay topup "$s" --voucher "$v2" --request-id topup-1 --json) ||
        fail "the retried top-up failed"
[ "$(jq -r .receipt <<<"$again")" = "$(cat "$T/payer/$s.receipts" | head -1)" ] ||
        fail "a retried top-up got another receipt: $(jq -r .receipt <<<"$again")"
[ "$(slice_field "$s" .account.credited)" = 550000 ] || fail "a retried top-up credited twice"

# Release: needs the token; without it, a non-root caller is refused.
setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN/prepay" release "$s" --token pt-wrong 2>"$T/deny.err" &&
        fail "release with a wrong token succeeded"
grep -q "owner token" "$T/deny.err" || fail "refusal does not name the owner token: $(cat "$T/deny.err")"
sleep 1
prepay release "$s" --token "$token" >"$T/change" 2>"$T/release.err" || fail "release failed: $(cat "$T/release.err")"
# SIGKILLed by the release: gone as soon as the kernel has delivered it.
wait_for 10 pid_gone "$burner"
kill -0 "$burner" 2>/dev/null && fail "the slice's work still runs 10 s after release"
change=$(cat "$T/change")
prepay voucher show "$T/change" --json >"$T/change.json" || fail "the change is not a voucher: $change"
refund=$(jq -r .amount "$T/change.json")
say "released: $(cat "$T/release.err"); change amount $refund"
[ -f "$PREPAY_TOKEN_DIR/$s" ] && fail "the owner token was kept after the release"
[ "$(wc -l <"$PREPAY_TOKEN_DIR/$s.receipts")" = 2 ] || fail "the release's receipt was not saved beside the create's"
release_receipt=$(sed -n 2p "$PREPAY_TOKEN_DIR/$s.receipts")
grep -qF "prepay: receipt $release_receipt" "$T/release.err" || fail "prepay release did not print its receipt"
receipt_check "$release_receipt" release "$s" "$refund" '.balance == 0 and .vouchers == []'
# And with openssl alone, as prepay-receipt(5) shows it.
t=$(sed 's/^pr1-//' <<<"$release_receipt" | tr -- '-_' '+/')
while [ $((${#t} % 4)) -ne 0 ]; do t="$t="; done
printf '%s' "$t" | base64 -d >"$T/r.bin"
head -c -64 "$T/r.bin" >"$T/r.signed"
tail -c 64 "$T/r.bin" >"$T/r.sig"
openssl pkeyutl -verify -rawin -pubin -inkey "$T/host.pub" -in "$T/r.signed" -sigfile "$T/r.sig" >/dev/null ||
        fail "openssl does not verify the release's receipt as prepay-receipt(5) says"
[ "$(od -An -tu1 -j4 -N1 "$T/r.signed" | tr -d ' ')" = 3 ] || fail "the release's receipt is not of kind 3 at offset 4"

# One byte changed (base64url: the characters of the amount and balance),
# or another key: refused, exit 1, with the reason.
create_receipt=$(head -1 "$PREPAY_TOKEN_DIR/$s.receipts")
c=${create_receipt:20:1}
forged=${create_receipt:0:20}$([ "$c" = A ] && echo B || echo A)${create_receipt:21}
prepay receipt verify --key-file "$T/host.pub" "$forged" 2>"$T/forged.err" && fail "a changed receipt verified"
[ $? = 1 ] || fail "a changed receipt: exit status not 1"
grep -q "forged or damaged" "$T/forged.err" || fail "a changed receipt: $(cat "$T/forged.err")"
prepay receipt verify --key-file "$ISSUER_KEY" "$create_receipt" 2>"$T/other.err" &&
        fail "a receipt verified with another key"
grep -q "not by the key given" "$T/other.err" || fail "another key: $(cat "$T/other.err")"
prepay receipt show "$forged" | grep -q "not checked" || fail "receipt show does not say it did not check"

prepay ledger export --json --ledger "$LEDGER" >"$T/ledger.json" || fail "ledger export failed"
row=$(jq -c --arg s "$s" '.slices[] | select(.id == $s)' "$T/ledger.json")
charged=$(jq -r '[.charged[]] | add' <<<"$row")
billed_cpu=$(jq -r .billed.cpu <<<"$row")
charged_cpu=$(jq -r .charged.cpu <<<"$row")
overshoot=$(jq -r .overshoot <<<"$row")
say "ledger: credited 550000 = charged $charged + refunded $refund; cpu billed ${billed_cpu}us charged $charged_cpu, overshoot $overshoot"
[ $((charged + refund)) = 550000 ] || fail "charged $charged + refund $refund != credited 550000"
# 0.01 per CPU-second = 10000 micro-units per 10^6 us: floor(us / 100).
# What the books promise for the billed counter is charged + overshoot:
# CPU used past a balance (between its end and the freeze, were the slice
# to run out on a slow machine) is recorded as overshoot, outside the books.
[ $((charged_cpu + overshoot)) = $((billed_cpu / 100)) ] ||
        fail "cpu charge $charged_cpu + overshoot $overshoot != floor($billed_cpu us x 0.01/s)"
within "$billed_cpu" "$(kernel_cpu_usec "$s" 2>/dev/null || echo "$billed_cpu")" 2 ||
        true # the cgroup is gone after release; the meter's own figure was checked above

# Released again: the same change, nothing new.
prepay release "$s" --token "$token" >"$T/change2" 2>/dev/null || fail "second release failed"
cmp -s "$T/change" "$T/change2" || fail "a second release gave different change"

# The change buys a new slice on this host.
bg prepay run --voucher "$T/change" --cpus 0.1 -- sleep 60 2>"$T/run2.err"
s2=$(slice_from_log "$T/run2.err") || fail "the change voucher did not buy a slice: $(cat "$T/run2.err")"
[ "$(slice_field "$s2" .account.credited)" = "$refund" ] || fail "the change credited the wrong amount"
prepay topup "$s2" --voucher "$T/change" 2>"$T/again.err" && fail "the change was accepted twice"
grep -q "already spent" "$T/again.err" || fail "reuse of change: $(cat "$T/again.err")"
prepay release "$s2" >/dev/null 2>&1 || fail "release of the second slice failed"

# Sized to funds: 0.02 EUR for 3.6 s at 0.01 per CPU-second is 0.555 CPUs.
v3=$(mint 0.02)
bg prepay run --voucher "$v3" --size-to-funds --hours 0.001 -- sleep 60 2>"$T/run3.err"
s3=$(slice_from_log "$T/run3.err") || fail "size-to-funds run failed: $(cat "$T/run3.err")"
quota=$(slice_field "$s3" .limits.cpu_quota_usec)
period=$(slice_field "$s3" .limits.cpu_period_usec)
say "sized to funds: quota ${quota}us per ${period}us"
[ $((quota * 1000 / period)) = 555 ] || fail "sized to $((quota * 1000 / period)) milli-CPUs, expected 555"
prepay release "$s3" >/dev/null 2>&1 || fail "release of the sized slice failed"

# Kept: the work stops, the balance stays; the owner runs in it again
# (with the token "prepay run" saved), and releases it later for change.
v4=$(mint 0.05)
bg prepay run --voucher "$v4" --cpus 0.1 -- sleep 60 2>"$T/run4.err"
s4=$(slice_from_log "$T/run4.err") || fail "no slice"
prepay release "$s4" --keep 2>"$T/keep.err" || fail "release --keep failed: $(cat "$T/keep.err")"
[ "$(slice_field "$s4" .account.state)" = kept ] || fail "slice not kept after release --keep"
[ "$(slice_field "$s4" .usage.pids_current)" = 0 ] || fail "work still runs in a kept slice"
prepay run --slice "$s4" -- true 2>/dev/null || fail "the owner could not run in the kept slice"
[ "$(slice_field "$s4" .account.state)" = active ] || fail "the kept slice did not become active again"
prepay release "$s4" >"$T/change4" 2>/dev/null && [ -s "$T/change4" ] || fail "release after keep gave no change"
say "kept, run in again, released: $(cat "$T/keep.err")"

prepay ledger verify --ledger "$LEDGER" || fail "ledger verify failed"
exit 0
