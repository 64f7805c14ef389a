#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# prepay-voucher(5) is all an issuer needs: a voucher built with the openssl
# command line, perl and coreutils verifies with "prepay voucher verify", a
# one-bit change of its amount is refused as forged, and a voucher from
# "prepay mint" verifies with "openssl pkeyutl -verify -rawin". Needs no
# daemon, no root and no cgroups, so it sources only the suites' common
# part (tests/lib.sh), not this suite's lib.sh.

cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
PREPAY=$(cd "$O" 2>/dev/null && pwd)/prepay
T=$(mktemp -d "/tmp/$TEST.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

[ -x "$PREPAY" ] || fail "no prepay binary at $O/prepay (run make first)"
command -v openssl >/dev/null || skip "no openssl command"
command -v perl >/dev/null || skip "no perl"
openssl genpkey -algorithm ed25519 -out "$T/issuer.key" 2>/dev/null || skip "openssl cannot make Ed25519 keys"
printf x >"$T/probe"
openssl pkeyutl -sign -rawin -inkey "$T/issuer.key" -in "$T/probe" -out /dev/null 2>/dev/null ||
        skip "openssl pkeyutl has no -rawin (OpenSSL 3.0 or later needed)"
perl -e 'pack("q>", 1)' 2>/dev/null || skip "perl without 64-bit integers"

hex() { od -An -v -tx1 | tr -d ' \n'; }
# base64url without padding, and back.
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
unb64url() {
        local s
        s=$(tr -- '-_' '+/')
        while [ $((${#s} % 4)) -ne 0 ]; do s="$s="; done
        printf '%s' "$s" | base64 -d
}

# signed_bytes ID-HEX AMOUNT CUR KEYID-HEX NOT-BEFORE NOT-AFTER AUDIENCE:
# the signed bytes, exactly as prepay-voucher(5) lays them out.
signed_bytes() {
        perl -e '
                my ($id, $amount, $cur, $keyid, $nb, $na, $aud) = @ARGV;
                print "PPV", pack("C", 1), pack("H*", $id), pack("q>", $amount), $cur,
                      pack("H*", $keyid), pack("q>", $nb), pack("q>", $na),
                      pack("C", length $aud), $aud;' "$@"
}

# The issuer's key, from openssl alone: its public half and its key id,
# the first 8 bytes of SHA-256 over the raw public key (the last 32 bytes
# of the DER SubjectPublicKeyInfo).
openssl pkey -in "$T/issuer.key" -pubout -out "$T/issuer.pub" || fail "openssl pkey -pubout failed"
openssl pkey -in "$T/issuer.key" -pubout -outform DER | tail -c 32 >"$T/pub.raw"
[ "$(stat -c %s "$T/pub.raw")" -eq 32 ] || fail "raw public key is not 32 bytes"
KEYID=$(openssl dgst -sha256 -binary "$T/pub.raw" | head -c 8 | hex)
say "issuer key id (openssl): $KEYID"

# make_voucher NAME AMOUNT AUDIENCE: NAME.signed, NAME.sig and NAME.txt.
NOW=$(date +%s)
NB=$((NOW - 60))
NA=$((NOW + 3600))
make_voucher() {
        local name=$1 amount=$2 audience=$3
        signed_bytes "$(openssl rand -hex 16)" "$amount" EUR "$KEYID" "$NB" "$NA" "$audience" >"$T/$name.signed"
        openssl pkeyutl -sign -rawin -inkey "$T/issuer.key" -in "$T/$name.signed" -out "$T/$name.sig" ||
                fail "openssl pkeyutl -sign failed"
        [ "$(stat -c %s "$T/$name.sig")" -eq 64 ] || fail "Ed25519 signature is not 64 bytes"
        printf 'pv1-%s\n' "$(cat "$T/$name.signed" "$T/$name.sig" | b64url)" >"$T/$name.txt"
}

# 1. openssl -> prepay, any host
make_voucher a 12500000 ""
say "openssl-made voucher: $(cat "$T/a.txt")"
out=$("$PREPAY" voucher verify "$T/a.txt" --key "$T/issuer.pub" 2>&1) ||
        fail "prepay refused a voucher made with openssl: $out"
say "prepay voucher verify: $out"
grep -q "^valid: 12.50 EUR, .*issuer $KEYID" <<<"$out" || fail "unexpected verdict: $out"
out=$("$PREPAY" voucher show "$T/a.txt") || fail "prepay voucher show failed"
grep -q "^issuer: *$KEYID\$" <<<"$out" || fail "show names another issuer: $out"
grep -q "^audience: *any host\$" <<<"$out" || fail "show names an audience: $out"
# The same through standard input and a directory of trusted keys.
mkdir "$T/issuers.d" && cp "$T/issuer.pub" "$T/issuers.d/"
"$PREPAY" voucher verify - --issuers "$T/issuers.d" --currency EUR <"$T/a.txt" >/dev/null ||
        fail "verify from standard input with --issuers refused it"

# 2. one bit of the amount changed, same signature: forged
perl -e 'local $/; my $b = <STDIN>; substr($b, 27, 1) ^= "\x01"; print $b' <"$T/a.signed" >"$T/forged.signed"
cmp -s "$T/a.signed" "$T/forged.signed" && fail "the bit flip changed nothing"
printf 'pv1-%s\n' "$(cat "$T/forged.signed" "$T/a.sig" | b64url)" >"$T/forged.txt"
out=$("$PREPAY" voucher verify "$T/forged.txt" --key "$T/issuer.pub" 2>&1) &&
        fail "prepay accepted a voucher whose amount was changed: $out"
say "amount 12500000 -> 12500001: $out"
grep -q "forged or damaged" <<<"$out" || fail "not refused as forged: $out"
"$PREPAY" voucher show "$T/forged.txt" | grep -q "^amount: *12.500001 EUR\$" ||
        fail "the forged voucher does not show the changed amount"

# 3. openssl -> prepay, bound to a host
make_voucher b 1000000 "test-host.example"
"$PREPAY" voucher verify "$T/b.txt" --key "$T/issuer.pub" --audience test-host.example >/dev/null ||
        fail "prepay refused a host-bound voucher on its host"
out=$("$PREPAY" voucher verify "$T/b.txt" --key "$T/issuer.pub" --audience other-host 2>&1) &&
        fail "prepay accepted a host-bound voucher on another host"
grep -q "bound to host test-host.example, this is host other-host" <<<"$out" || fail "unexpected refusal: $out"
say "host-bound voucher on another host: $out"

# 4. prepay -> openssl: mint with the openssl-made key, check with openssl
text=$("$PREPAY" mint --key "$T/issuer.key" --amount 3.25 --currency EUR --audience h1 --expires 1h) ||
        fail "prepay mint failed"
say "prepay-minted voucher: $text"
case $text in pv1-*) ;; *) fail "minted text does not start with pv1-: $text" ;; esac
printf '%s' "${text#pv1-}" | unb64url >"$T/m.bin" || fail "minted text is not base64url"
size=$(stat -c %s "$T/m.bin")
[ "$size" -eq $((56 + 2 + 64)) ] || fail "minted voucher is $size bytes, expected 122"
head -c $((size - 64)) "$T/m.bin" >"$T/m.signed"
tail -c 64 "$T/m.bin" >"$T/m.sig"
fields=$(perl -e '
        local $/; my $b = <STDIN>;
        my ($magic, $ver, $id, $amount, $cur, $keyid, $nb, $na, $n) = unpack("a3 C a16 q> a3 a8 q> q> C", $b);
        printf "%s %d %d %s %s %d %s", $magic, $ver, $amount, $cur, unpack("H*", $keyid), $na - $nb,
               substr($b, 56, $n);' <"$T/m.signed")
say "fields (magic version amount currency issuer seconds audience): $fields"
# --expires counts from now and --not-before is now: 3600 seconds.
[ "$fields" = "PPV 1 3250000 EUR $KEYID 3600 h1" ] || fail "minted fields are not as asked: $fields"
out=$(openssl pkeyutl -verify -rawin -pubin -inkey "$T/issuer.pub" -in "$T/m.signed" -sigfile "$T/m.sig" 2>&1) ||
        fail "openssl refused prepay's signature: $out"
say "openssl pkeyutl -verify: $out"
perl -e 'local $/; my $b = <STDIN>; substr($b, 27, 1) ^= "\x01"; print $b' <"$T/m.signed" >"$T/m-forged.signed"
openssl pkeyutl -verify -rawin -pubin -inkey "$T/issuer.pub" -in "$T/m-forged.signed" -sigfile "$T/m.sig" \
        >/dev/null 2>&1 && fail "openssl accepted prepay's signature over a changed amount"

# 5. a prepay keygen key is a standard one, with the same key id
"$PREPAY" keygen --out "$T/keys" --name k >"$T/keygen.out" || fail "prepay keygen failed"
prepay_id=$(sed -n 's/^Key id: *//p' "$T/keygen.out")
openssl_id=$(openssl pkey -in "$T/keys/k.key" -pubout -outform DER | tail -c 32 | openssl dgst -sha256 -binary |
        head -c 8 | hex)
say "keygen key id: prepay $prepay_id, openssl $openssl_id"
[ -n "$prepay_id" ] && [ "$prepay_id" = "$openssl_id" ] || fail "key ids differ"
openssl pkey -in "$T/keys/k.key" -pubout | cmp -s - "$T/keys/k.pub" ||
        fail "k.pub is not the public half of k.key as openssl writes it"

say "PASS"
exit 0
