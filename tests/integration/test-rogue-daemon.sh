#!/bin/bash
# prepay trusts its socket's answers no further than their form: a rogue
# "daemon" on PREPAY_SOCKET (a python3 SOCK_SEQPACKET server) answers
# "prepay run" with slice ids that are not slice ids ("../../x", an
# absolute path, "s-" with a path after it, an empty one). Each time prepay
# refuses, saying why, runs nothing, and writes no file, in the token
# directory or outside it. The same server answering with a well-formed id
# gets the token saved under that name and the command run, so the refusals
# are the id's doing.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "no python3"

ROGUE=$T/rogue.sock
# Tokens two levels down, so that "../../x" lands inside $T, where it can
# be looked for.
export PREPAY_TOKEN_DIR=$T/a/b/tokens
mkdir -p "$PREPAY_TOKEN_DIR"

# The server: one connection, answered with a created slice of the id given.
cat >"$T/rogue.py" <<'PY'
import json, socket, sys
path, slice_id = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path)
s.listen(1)
c, _ = s.accept()
c.recv(65536)
c.send(json.dumps({"ok": True, "token": "pt-rogue",
                   "slice": {"id": slice_id, "state": "empty"}}).encode())
c.close()
PY

# rogue ID: the server started, its socket there.
rogue() {
        rm -f "$ROGUE"
        bg python3 "$T/rogue.py" "$ROGUE" "$1"
        wait_for 10 test -S "$ROGUE" || fail "the rogue server did not start"
}

echo "not a voucher: the rogue server reads nothing" >"$T/v.voucher"
# Files made since the voucher was, but prepay's own error output.
files_now() { find "$T" -newer "$T/v.voucher" -type f ! -name '*.err' ! -name '*.log' | sort; }

for bad in "../../x" "$T/abs" "s-0123abcd/../../../x" "s-../../x" ""; do
        rogue "$bad"
        before=$(files_now)
        PREPAY_SOCKET=$ROGUE prepay run --voucher "$T/v.voucher" -- touch "$T/ran" 2>"$T/run.err" &&
                fail "prepay run took slice id '$bad' from a rogue socket: $(cat "$T/run.err")"
        grep -q "is not one (s- and 8 to 16 hex digits): refusing to save its token" "$T/run.err" ||
                fail "slice id '$bad': prepay said '$(cat "$T/run.err")'"
        [ ! -e "$T/ran" ] || fail "slice id '$bad': prepay ran the command"
        [ ! -e "$T/a/x" ] && [ ! -e "$T/x" ] && [ ! -e "$T/abs" ] || fail "slice id '$bad': a token was written outside the token directory"
        [ -z "$(ls -A "$PREPAY_TOKEN_DIR")" ] || fail "slice id '$bad': the token directory holds $(ls -A "$PREPAY_TOKEN_DIR")"
        [ "$(files_now)" = "$before" ] || fail "slice id '$bad': prepay wrote $(comm -13 <(echo "$before") <(files_now))"
        wait "${BG_PIDS[-1]}" 2>/dev/null
        say "slice id '$bad': refused: $(cat "$T/run.err")"
done

# The same server, a well-formed id: the harness works.
rogue s-0123abcd
PREPAY_SOCKET=$ROGUE prepay run --voucher "$T/v.voucher" -- touch "$T/ran" 2>"$T/run.err" ||
        fail "prepay run with a well-formed answer failed: $(cat "$T/run.err")"
[ -e "$T/ran" ] || fail "prepay run did not run the command"
[ "$(cat "$PREPAY_TOKEN_DIR/s-0123abcd")" = pt-rogue ] || fail "the token was not saved as s-0123abcd"
say "slice id 's-0123abcd': token saved in the token directory, command run"
