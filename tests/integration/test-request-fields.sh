#!/bin/bash
# Raw requests with fields of the wrong type or out of range, sent to the
# control socket as a hostile client would (helpers/raw-request, AF_UNIX
# SOCK_SEQPACKET, one JSON object per datagram): each is refused with a
# sentence naming the field, before anything acts. A create so refused
# spends no voucher and makes no slice, and the same voucher buys a slice
# afterwards; a quote so refused is not answered as if the field were
# missing.
# run-all-timeout: 600
. "$(dirname "$0")/lib.sh"

write_config "[Money]
MinRuntimeSec=10s
AllowUnfunded=no
[Prices]
CPUSecond=0.01"
start_daemon

# Lines "FIELD REQUEST" on stdin: each REQUEST is sent as it is (numbers
# such as 2^63 or 1e30 are not rewritten by a JSON tool on the way), on
# a connection of its own; "FIELD REPLY" lines on stdout.
send() { "$BIN/tests/raw-request" "$PREPAY_SOCKET" --lines; }

# The same on stdin, and each must be refused (in a pipeline, fail ends
# only its subshell: callers add "|| exit 1") with an error naming its
# FIELD, and no other of NAMES (words) when given; prints the sentences.
refused() {
        local names=${1:-} field reply err other n=0 want
        cat >"$T/requests"
        want=$(wc -l <"$T/requests")
        while read -r field reply; do
                n=$((n + 1))
                # One jq a reply: forks are slow in an emulated guest.
                err=$(jq -r 'if .ok == false then .error else "(accepted)" end' <<<"$reply")
                [ "$err" != "(accepted)" ] || fail "request $n ($field) accepted: $reply"
                grep -qi -- "$field" <<<"$err" || fail "request $n: the error does not name '$field': $err"
                for other in $names; do
                        [ "$other" = "$field" ] && continue
                        grep -q -- "$other" <<<"$err" && fail "request $n: the error names $other, not only $field: $err"
                done
                say "$field: $err"
        done < <(send <"$T/requests")
        # A reply that is not UTF-8 ends the replies (raw-request stops).
        [ "$n" -eq "$want" ] || fail "$n replies to $want requests"
}

books() { # vouchers spent and slices made, from the ledger
        prepay ledger export --json --ledger "$LEDGER" | jq -c '[(.vouchers | length), (.slices | length)]'
}

voucher=$(cat "$(mint 5.00)")
case $voucher in pv1-*) ;; *) fail "unexpected voucher text: $voucher" ;; esac
# create FIELD VERSION [KEY VALUE]: a create of a slice with that voucher
# (base64url: nothing in it needs escaping), as a "FIELD REQUEST" line.
create() {
        printf '%s {"op":"create","version":%s,"limits":{},"cpus_milli":100,"voucher":"%s","request_id":"r-1"%s}\n' \
                "$1" "$2" "$voucher" "${3:+,\"$3\":$4}"
}

# Not version 1 in any form, then other fields of a create, each wrong in
# its own way: all refused, the voucher not spent, no slice made.
{
        for v in '"1"' 1.5 true -1 null '"one"' 2 9223372036854775808 1e30; do
                create version "$v"
        done
        create cpus_milli 1 cpus_milli 1.5
        create cpus_milli 1 cpus_milli -1
        create cpus_milli 1 cpus_milli 9223372036854775808
        create duration_usec 1 duration_usec 1e30
        create attach 1 attach '"yes"'
        create size_to_funds 1 size_to_funds null
        create exhausted_action 1 exhausted_action 3
        create donation_model 1 donation_model 3
        create donation_model 1 donation_model '"sideways"'
        create donation_model 1 donation_model '"lifo"'
        create request_id 1 request_id '"a/b"'
        create memory_max 1 limits '{"memory_max":-1}'
        create pids_max 1 limits '{"pids_max":1.5}'
        create limits 1 limits '[]'
        create voucher 1 voucher null
} | refused || exit 1
[ "$(books)" = "[0,0]" ] || fail "refused creates spent or made something: $(books)"

# The same voucher, in a good request, buys a slice.
reply=$(create good 1 | send | cut -d' ' -f2-)
[ "$(jq -r .ok <<<"$reply")" = true ] || fail "a good create with the refused voucher failed: $reply"
s=$(jq -r .slice.id <<<"$reply")
token=$(jq -r .token <<<"$reply")
[ "$(books)" = "[1,1]" ] || fail "after the good create: $(books)"
say "the voucher refused above bought $s"

# A quote with a field negative, 2^63, beyond 64 bits or a float: refused
# naming that field and only it, not answered as if it were missing.
for f in cpus_milli memory_max duration_usec; do
        for x in -1 -9223372036854775808 9223372036854775808 99999999999999999999999 1e30 2.5 '"2"' true null; do
                echo "$f {\"op\":\"quote\",\"$f\":$x}"
        done
done | refused "cpus_milli memory_max duration_usec" || exit 1
reply=$(echo 'good {"op":"quote","cpus_milli":1000,"memory_max":0,"duration_usec":3600000000}' | send)
[ "$(jq -r .ok <<<"${reply#good }")" = true ] || fail "a good quote was refused: $reply"

# The other ops check what they read, too.
refused <<EOF
request_id {"op":"status","slice":"$s","request_id":"a b"}
slice {"op":"status","slice":["$s"]}
cursor {"op":"list","cursor":-1}
brief {"op":"list","brief":1}
keep {"op":"release","slice":"$s","token":"$token","keep":"no"}
token {"op":"kill","slice":"$s","token":7}
voucher {"op":"topup","slice":"$s","voucher":["$voucher"]}
slice {"op":"events","slice":null}
unit {"op":"run-unit","slice":"$s","token":"$token","unit":""}
claim {"op":"claim","slice":"$s","claim":7}
claim {"op":"claim","slice":"$s"}
claim {"op":"claim","slice":"$s","claim":"pc1-AAAA"}
slice {"op":"funders","slice":7}
funder_proof {"op":"events","slice":"$s","funder_proof":7}
funder_proof {"op":"events","slice":"$s","funder_proof":"pc1-AAAA"}
funder_proof {"op":"funders","slice":"$s","funder_proof":""}
revenue_share {"op":"invest_open","slice":"$s","token":"$token","revenue_share":50}
revenue_share {"op":"invest_open","slice":"$s","token":"$token","revenue_share":"50"}
revenue_share {"op":"invest_open","slice":"$s","token":"$token","revenue_share":"150%"}
revenue_share {"op":"invest_open","slice":"$s","token":"$token","revenue_share":"0%"}
revenue_share {"op":"invest_open","slice":"$s","token":"$token"}
fixed_return {"op":"invest_open","slice":"$s","token":"$token","fixed_return":"1001%"}
fixed_return {"op":"invest_open","slice":"$s","token":"$token","fixed_return":"10%","revenue_share":"10%"}
cap {"op":"invest_open","slice":"$s","token":"$token","revenue_share":"50%","cap":5}
cap {"op":"invest_open","slice":"$s","token":"$token","revenue_share":"50%","cap":"-1"}
cap {"op":"invest_open","slice":"$s","token":"$token","revenue_share":"50%","cap":"0"}
token {"op":"invest_open","slice":"$s","token":"pt-not-its-token","revenue_share":"50%"}
slice {"op":"pay","slice":"s-1","voucher":"$voucher"}
voucher {"op":"pay","slice":"$s"}
voucher {"op":"pay","slice":"$s","voucher":7}
vouchers {"op":"pay","slice":"$s","vouchers":[]}
version {"op":"status","slice":"$s","version":"1"}
op {"op":5}
op {"op":null,"slice":"$s"}
op {"slice":"$s"}
operation {"op":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\u00e9"}
EOF
# Sponsorship's fields (issue 16): a sponsor's name with a control
# character, a link not http(s), a least bid that is not money, a period
# that is not a duration, a bid number that is not one; refused before
# the voucher is read: it is not spent.
bid_voucher=$(cat "$(mint 2.00)")
refused <<EOF
min {"op":"sponsor_offer","slice":"$s","token":"$token","period":"1h","min":"one euro"}
min {"op":"sponsor_offer","slice":"$s","token":"$token","period":"1h","min":"0"}
min {"op":"sponsor_offer","slice":"$s","token":"$token","period":"1h","min":1}
period {"op":"sponsor_offer","slice":"$s","token":"$token","period":"whenever","min":"1.00"}
period {"op":"sponsor_offer","slice":"$s","token":"$token","min":"1.00"}
start {"op":"sponsor_offer","slice":"$s","token":"$token","period":"1h","min":"1.00","start":-1}
name {"op":"sponsor_bid","slice":"$s","voucher":"$bid_voucher","name":"a\u0007b"}
name {"op":"sponsor_bid","slice":"$s","voucher":"$bid_voucher","name":"a\nb"}
name {"op":"sponsor_bid","slice":"$s","voucher":"$bid_voucher","name":""}
name {"op":"sponsor_bid","slice":"$s","voucher":"$bid_voucher"}
url {"op":"sponsor_bid","slice":"$s","voucher":"$bid_voucher","name":"A","url":"javascript:alert(1)"}
url {"op":"sponsor_bid","slice":"$s","voucher":"$bid_voucher","name":"A","url":"ftp://x.example/"}
url {"op":"sponsor_bid","slice":"$s","voucher":"$bid_voucher","name":"A","url":"https://x.example/a b"}
voucher {"op":"sponsor_bid","slice":"$s","name":"A"}
bid {"op":"sponsor_outcome","slice":"$s","token":"bt-x","bid":"1"}
bid {"op":"sponsor_outcome","slice":"$s","token":"bt-x"}
EOF
[ "$(books)" = "[1,1]" ] || fail "refused sponsorship requests spent or made something: $(books)"
say "refused sponsorship requests spent nothing"
reply=$(echo "status {\"op\":\"status\",\"slice\":\"$s\"}" | send)
jq -e '.slice.account.state == "active"' <<<"${reply#status }" >/dev/null ||
        fail "the slice is not active after the refused release: $reply"
jq -e '.slice.account.investors == null' <<<"${reply#status }" >/dev/null ||
        fail "a refused invest_open opened the slice: $reply"
[ "$(books)" = "[1,1]" ] || fail "refused payments spent something: $(books)"

reply=$(echo "release {\"op\":\"release\",\"slice\":\"$s\",\"token\":\"$token\"}" | send)
[ "$(jq -r .ok <<<"${reply#release }")" = true ] || fail "release failed: $reply"
exit 0
