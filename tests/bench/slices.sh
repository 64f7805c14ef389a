# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the benchmarks that want many live slices around what they
# measure (scale, enforce, after tests/integration/lib.sh and
# start_daemon). Slices are made in four kinds, in turn: empty, empty,
# running an idle process unfunded, and running one funded for hours
# (10 EUR at --cpus 0.1): half empty, half running a light workload.
#   add_slices N   until N slices made by these helpers are alive (counted
#                  from the previous call's N)
#   live           how many slices prepayd lists (any kind)
#   count_is N     at least N slices alive

made=0
add_slices() {
        local want=$1 i=0
        make_issuer
        : >"$T/make.list"
        while [ $((made + i)) -lt "$want" ]; do
                echo $(((made + i) % 4)) >>"$T/make.list"
                i=$((i + 1))
        done
        [ "$i" -gt 0 ] || return 0
        prepay mint --key "$ISSUER_KEY" --amount 10 --currency EUR --count "$i" >"$T/vouchers" ||
                fail "mint failed"
        paste -d ' ' "$T/make.list" "$T/vouchers" >"$T/make.jobs"
        # Two at a time: the machine has two CPUs, and the kernel's cgroup
        # creation is serialized anyway.
        xargs -P 2 -L 1 "$T/make-one" <"$T/make.jobs" ||
                fail "making slices failed: $(cat "$T"/err.* | sort | uniq -c | head -5)"
        rm -f "$T"/err.*
        made=$want
}
# The idle ones in a subshell of their own: no job of make-one's, so
# no "Killed" from it when the cleanup ends them.
cat >"$T/make-one" <<MAKE
#!/bin/bash
case \$1 in
0|1) e=\$(mktemp "$T/err.XXXXXX")
   "$BIN/prepay" run -- true 2>"\$e" && rm -f "\$e" || exit 1
   ;;
2) ("$BIN/prepay" run -- sleep 1000000 >/dev/null 2>&1 </dev/null &) ;;
3) v=\$(mktemp "$T/v.XXXXXX") && echo "\$2" >"\$v" &&
   ("$BIN/prepay" run --voucher "\$v" --cpus 0.1 -- sleep 1000000 >/dev/null 2>&1 </dev/null &) ;;
esac
exit 0
MAKE
chmod +x "$T/make-one"

live() { prepay list --json 2>/dev/null | jq length; }
count_is() { [ "$(live)" -ge "$1" ]; }
