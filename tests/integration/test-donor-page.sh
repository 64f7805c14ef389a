#!/bin/bash
# The donor's page in a real browser: prepay-gatewayd (as a throwaway
# unprivileged user, as test-gateway-control.sh runs it) serves
# /slices/ID for a slice root bought; headless Chromium from Debian,
# driven by chromedriver's WebDriver HTTP API with curl, loads it (the
# gateway's self-signed certificate trusted by its SPKI pin only), a
# voucher is pasted into the form and submitted: the slice is topped up
# (prepay status), the result page and the slice's page again show the
# balance status shows. The page carries its chart (inline SVG) and works
# with JavaScript off (Chromium --disable-javascript --dump-dom). A
# screenshot is checked for its size and that it is not blank (PNG
# dimensions, distinct colours). Figure: the page's load time in the
# browser (Navigation Timing), printed, not asserted.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 300

GW=$BIN/prepay-gatewayd
[ -x "$GW" ] || skip "no $GW"
for tool in curl jq python3 chromium chromedriver; do
        command -v "$tool" >/dev/null ||
                skip "$tool is not installed (packaging/build-deps: apt-get install chromium chromium-driver)"
done

P=pdp$$
start_gateway_daemon "$P" "$(cpu_prices 0.01)"

G=$T/gateway
install -d -o "${P}gw" -m 0700 "$G"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
cat >"$T/gatewayd.conf" <<CONF
[Gateway]
Listen=127.0.0.1:$PORT
StateDirectory=$G
ControlSocket=$PREPAY_SOCKET
CONF
chmod 0644 "$T/gatewayd.conf"
setpriv --reuid "${P}gw" --regid "${P}c" --init-groups "$GW" -c "$T/gatewayd.conf" >"$T/gateway.log" 2>&1 &
BG_PIDS+=($!)
has_fingerprint() { [ -s "$G/fingerprint" ]; }
wait_for 10 has_fingerprint || fail "the gateway wrote no fingerprint: $(tail -n 5 "$T/gateway.log")"
fp=$(cat "$G/fingerprint")
U=https://127.0.0.1:$PORT
pin="sha256//${fp#sha256:}"
get() { curl -sS --pinnedpubkey "$pin" -k "$@"; }
answers() { [ "$(get -o /dev/null -w '%{http_code}' "$U/v1/prices")" = 200 ]; }
wait_for 10 answers || fail "the gateway does not answer: $(tail -n 5 "$T/gateway.log")"

# A slice root buys, burning a little CPU, so that its chart has a slope.
bg prepay run --voucher "$(mint 2.00)" --cpus 0.2 -- sh -c 'while :; do :; done' >/dev/null 2>"$T/run.err"
wait_for 10 has_slice_line "$T/run.err" || fail "no slice bought: $(cat "$T/run.err")"
s=$(slice_from_log "$T/run.err")
burning() { [ "$(slice_field "$s" .account.burn_rate)" -gt 0 ] 2>/dev/null; }
wait_for 10 burning || fail "slice $s does not burn: $(prepay status "$s" --json)"

# prepay report: the owner's history as text and SVG, the public one through the gateway.
prepay report "$s" >"$T/report.txt" || fail "prepay report: $(cat "$T/report.txt")"
grep -q "funded" "$T/report.txt" || fail "prepay report shows no funded event: $(cat "$T/report.txt")"
prepay report "$s" --svg "$T/report.svg" >/dev/null || fail "prepay report --svg failed"
if command -v xmllint >/dev/null; then
        xmllint --noout "$T/report.svg" || fail "prepay report --svg wrote no valid XML"
fi
grep -q '<polyline' "$T/report.svg" || fail "the chart has no line: $(head -c 300 "$T/report.svg")"
get "$U/v1/slices/$s/history" >"$T/history.json"
jq -e '.public == true and .credited == "2.00" and (.points | length) >= 1 and (.points[0] | length) == 2 and
       ([.events[].kind] | index("funded") != null)' "$T/history.json" >/dev/null ||
        fail "the public history: $(head -c 400 "$T/history.json")"
# The same over HTTPS, as a buyer elsewhere sees it: the token prepay
# run saved goes with it, so what was charged comes too.
prepay --host "$U" --pin "$fp" report "$s" --svg "$T/remote.svg" >/dev/null 2>"$T/remote.err" ||
        fail "prepay --host report --svg: $(cat "$T/remote.err")"
grep -q '<polyline' "$T/remote.svg" || fail "prepay --host report drew no line"
say "prepay report (text, --svg valid XML, and with --host); the public history through the gateway: $(jq '.points | length' "$T/history.json") points, no charges"

# The page, headers first.
get -D "$T/page.headers" -o "$T/page.html" "$U/slices/$s"
grep -qi '^content-type: text/html; charset=utf-8' "$T/page.headers" || fail "the page is not HTML: $(cat "$T/page.headers")"
grep -qi "^content-security-policy: default-src 'none'; style-src 'sha256-" "$T/page.headers" ||
        fail "the page has no Content-Security-Policy: $(cat "$T/page.headers")"
grep -qi '^x-frame-options: DENY' "$T/page.headers" || fail "the page can be framed"
grep -qi '<script' "$T/page.html" && fail "the page holds a script"
grep -q '<svg xmlns="http://www.w3.org/2000/svg"' "$T/page.html" || fail "the page holds no chart"
say "GET /slices/$s: HTML with its chart, CSP, no script"

# --- the browser
D=$T/chrome
mkdir -p "$D"
DPORT=$(free_port)
chromedriver --port="$DPORT" --log-path="$T/chromedriver.log" >/dev/null 2>&1 &
DRIVER_PID=$!
BG_PIDS+=("$DRIVER_PID")
W=http://127.0.0.1:$DPORT
driver_up() { curl -sf "$W/status" | jq -e '.value.ready == true' >/dev/null 2>&1; }
wait_for 20 driver_up || skip "chromedriver does not start: $(tail -n 5 "$T/chromedriver.log")"
# wd METHOD PATH [JSON]: one WebDriver command; its reply's value.
wd() {
        curl -sS -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$W$2" >"$T/wd.json" 2>>"$T/wd.err"
        jq -e 'has("value") and ((.value | type) != "object" or (.value | has("error") | not))' "$T/wd.json" \
                >/dev/null || fail "WebDriver $1 $2: $(head -c 600 "$T/wd.json")"
        jq -c .value "$T/wd.json"
}
# Chromium as root needs --no-sandbox; the gateway's certificate is
# trusted by its SPKI pin alone (which Chromium takes with a
# --user-data-dir of its own), never by ignoring every error.
caps=$(jq -n --arg pin "${fp#sha256:}" --arg dir "$D" '{capabilities: {alwaysMatch: {browserName: "chrome",
        "goog:chromeOptions": {binary: "/usr/bin/chromium", args: ["--headless=new", "--no-sandbox", "--disable-gpu",
        "--disable-dev-shm-usage", "--window-size=900,1200", "--user-data-dir=\($dir)",
        "--ignore-certificate-errors-spki-list=\($pin)"]}}}}')
curl -sS -X POST -H 'Content-Type: application/json' -d "$caps" "$W/session" >"$T/session.json"
sid=$(jq -r '.value.sessionId // empty' "$T/session.json")
[ -n "$sid" ] || skip "Chromium does not start here: $(jq -r '.value.message // .' "$T/session.json" | head -c 400)"
# The browser chromedriver started: ended by its pid if the test fails
# (its own helpers go with it).
for pid in $(pgrep -P "$DRIVER_PID"); do BG_PIDS+=("$pid"); done
cleanup_browser() { curl -s -X DELETE "$W/session/$sid" >/dev/null 2>&1; }
S=/session/$sid
element() { wd POST "$S/element" "$(jq -cn --arg c "$1" '{using: "css selector", value: $c}')" |
        jq -r '.[keys[0]]'; }
text_of() { wd GET "$S/element/$(element "$1")/text" | jq -r .; }

wd POST "$S/url" "$(jq -cn --arg u "$U/slices/$s" '{url: $u}')" >/dev/null
[ "$(wd GET "$S/title" | jq -r .)" = "Slice $s" ] || fail "the browser shows no slice page: $(wd GET "$S/title")"
# Navigation Timing of that load, as the browser measured it.
load=$(wd POST "$S/execute/sync" '{"script": "const n = performance.getEntriesByType(\"navigation\")[0]; return [n.duration, n.responseStart - n.requestStart, n.domContentLoadedEventEnd];", "args": []}')
say "figure: page load in Chromium: $(jq -r '"\(.[0] | . * 10 | round / 10) ms in all, \(.[1] | . * 10 | round / 10) ms to the first byte"' <<<"$load")"
text_of "#chart" >/dev/null # the figure is there, rendered
before=$(text_of "#balance")
say "the page shows a balance of $before EUR"

# Paste a voucher, submit the form.
v=$(cat "$(mint 3.00)")
area=$(element "#voucher")
wd POST "$S/element/$area/value" "$(jq -cn --arg t "$v"$'\n' '{text: $t}')" >/dev/null
wd POST "$S/element/$(element 'button[type=submit]')/click" '{}' >/dev/null
result_shown() { [ "$(wd GET "$S/title" | jq -r .)" = "Topped up" ]; }
wait_for 10 result_shown || fail "the form's answer is not \"Topped up\": $(wd GET "$S/source" | head -c 800)"
[ "$(text_of "#credited")" = 3.00 ] || fail "the result page credited $(text_of "#credited"), not 3.00"
after_topup=$(text_of "#balance")
say "submitted the form: credited 3.00 EUR, balance $after_topup EUR"

# The slice was topped up: status counts the voucher, and the page shows
# the balance status shows (read around the page's load: it burns).
prepay status "$s" --json >"$T/status.json"
jq -e '(.account // .slice.account).credited == 5000000' "$T/status.json" >/dev/null ||
        fail "prepay status does not show 5.00 credited: $(jq -c . "$T/status.json" | head -c 600)"
wd POST "$S/element/$(element '#back')/click" '{}' >/dev/null
page_loaded() { [ "$(wd GET "$S/title" | jq -r .)" = "Slice $s" ]; }
wait_for 10 page_loaded || fail "the link back does not lead to the slice's page"
shown=$(text_of "#balance")
status_balance=$(slice_field "$s" .account.balance)
credited=$(text_of "#credited")
[ "$credited" = 5.00 ] || fail "the page shows $credited given so far, not 5.00"
# Both in micro-units: what the page showed lies between the balance
# before its load (at the top-up, less what burnt) and status's after.
shown_u=$(python3 -c 'import sys; from decimal import Decimal; print(int(Decimal(sys.argv[1]) * 1000000))' "$shown")
after_u=$(python3 -c 'import sys; from decimal import Decimal; print(int(Decimal(sys.argv[1]) * 1000000))' "$after_topup")
[ "$shown_u" -le "$after_u" ] && [ "$shown_u" -ge "$status_balance" ] ||
        fail "the page shows $shown EUR, not between the top-up's $after_topup and status's $((status_balance)) micro-EUR"
# Stopped, the slice burns nothing: the page and status agree to the micro-unit.
prepay kill "$s" >/dev/null 2>&1 || fail "prepay kill $s failed"
idle() { [ "$(slice_field "$s" .account.burn_rate)" = 0 ]; }
wait_for 10 idle || fail "slice $s still burns after its kill"
wd POST "$S/refresh" '{}' >/dev/null
shown=$(text_of "#balance")
shown_u=$(python3 -c 'import sys; from decimal import Decimal; print(int(Decimal(sys.argv[1]) * 1000000))' "$shown")
status_balance=$(slice_field "$s" .account.balance)
[ "$shown_u" = "$status_balance" ] ||
        fail "the page shows a balance of $shown EUR, status $status_balance micro-EUR"
say "prepay status: 5.00 EUR credited; the page shows the balance status shows ($shown EUR, the slice idle)"

# A screenshot: its size, and that it is not blank.
wd GET "$S/screenshot" | jq -r . | base64 -d >"$T/page.png"
python3 - "$T/page.png" >"$T/png.out" <<'PY' || fail "the screenshot: $(cat "$T/png.out")"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6), "PNG of depth %d type %d" % (depth, ctype)
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, colours, i = bytearray(stride), set(), 0
for y in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    if y % 2 == 0:
        colours.update(bytes(line[k:k + 3]) for k in range(0, stride, bpp * 2))
print(w, h, len(colours))
PY
read -r pw ph pcolours <"$T/png.out"
[ "$pw" -ge 800 ] && [ "$ph" -ge 600 ] || fail "the screenshot is ${pw}x${ph}, expected the 900x1200 window"
[ "$pcolours" -ge 16 ] || fail "the screenshot has $pcolours colours: blank"
say "screenshot: ${pw}x${ph} PNG, $pcolours colours, $(stat -c %s "$T/page.png") bytes"
cleanup_browser

# Without JavaScript (there is none): the page and its form are all there.
chromium --headless=new --no-sandbox --disable-gpu --disable-javascript --user-data-dir="$D" \
        --ignore-certificate-errors-spki-list="${fp#sha256:}" --dump-dom "$U/slices/$s" >"$T/dom.html" 2>"$T/dom.err" ||
        fail "chromium --dump-dom failed: $(tail -n 3 "$T/dom.err")"
grep -q 'id="balance"' "$T/dom.html" && grep -q '<form method="post"' "$T/dom.html" && grep -q '<svg' "$T/dom.html" ||
        fail "with JavaScript off the page lacks its balance, form or chart: $(head -c 400 "$T/dom.html")"
say "with JavaScript off: balance, chart and form all there"

# What is escaped, and the form's refusals, as pages.
code=$(get -o "$T/bad.html" -w '%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' \
        --data-binary 'voucher=%3Cscript%3Ealert(1)%3C%2Fscript%3E' "$U/slices/$s/topup")
[ "$code" = 400 ] || fail "a voucher of markup got $code"
grep -q '<script' "$T/bad.html" && fail "a pasted voucher came back as markup"
code=$(get -o "$T/nosuch.html" -w '%{http_code}' "$U/slices/s-0000000000000000")
[ "$code" = 404 ] || fail "a page of no slice got $code"
code=$(get -o /dev/null -w '%{http_code}' -X POST "$U/slices/$s")
[ "$code" = 405 ] || fail "POST to a slice's page got $code"
code=$(get -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' \
        --data-binary "voucher=$(head -c 9000 /dev/zero | tr '\0' a)" "$U/slices/$s/topup")
[ "$code" = 413 ] || fail "a 9000-byte form got $code"
say "refused as pages: markup for a voucher (400, escaped), no slice (404), POST to the page (405), 9000 bytes (413)"
ledger_verify >/dev/null || fail "the books do not balance"
