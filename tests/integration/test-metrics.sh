#!/bin/bash
# Metrics for the operator's Prometheus (issue 18): prepayd renders the
# OpenMetrics text (the "metrics" op, [Metrics] SliceSeries=yes and
# Gateway=yes here), prepay-gatewayd serves it on its own plain-HTTP
# listener ([Metrics] Listen=), never on the storefront's port, and a real
# Prometheus from Debian's package (run directly, its config and data in
# $T, its own port) scrapes it every second. A funded slice burns 1.5 s of
# CPU and is topped up once; once the burner is done and Prometheus has
# scraped after that, PromQL through its HTTP API gives the slice's CPU
# seconds within 2% of "prepay status" and the redemptions exactly (2),
# and the voucher given again counted as refused "spent".
. "$(dirname "$0")/lib.sh"

GW=$BIN/prepay-gatewayd
[ -x "$GW" ] || skip "no $GW (built from daemon/gateway-main.c)"
command -v curl >/dev/null || skip "no curl"
PROM=$(command -v prometheus || true)
[ -n "$PROM" ] || skip "prometheus is not installed (Debian's package prometheus; packaging/build-deps installs it)"

P=pme$$
add_group "${P}c"
add_user "${P}gw" "${P}c"
add_user "${P}u" "${P}c"
chmod 0755 "$T"
# config GATEWAY: the test's prepayd.conf, [Metrics] Gateway=GATEWAY.
config() {
        write_config "[Daemon]
ClientGroup=${P}c
[Money]
AllowUnfunded=no
MinRuntimeSec=1s
[Control]
GatewayUser=${P}gw
[Metrics]
SliceSeries=yes
Gateway=$1"
}
config yes
start_daemon
# A client may not read them: every tenant's figures are in them.
echo '{"version": 1, "op": "metrics"}' | as "${P}u" "$BIN/tests/raw-request" "$PREPAY_SOCKET" >"$T/client.out" ||
        fail "no reply to a client's metrics request"
jq -e '.ok == false and .code == "forbidden"' "$T/client.out" >/dev/null || fail "a client's metrics: $(cat "$T/client.out")"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
G=$T/gateway
install -d -o "${P}gw" -m 0700 "$G"
PORT=$(free_port)
MPORT=$(free_port)
cat >"$T/gatewayd.conf" <<CONF
[Gateway]
Listen=127.0.0.1:$PORT
StateDirectory=$G
ControlSocket=$PREPAY_SOCKET
[Metrics]
Listen=127.0.0.1:$MPORT
CONF
chmod 0644 "$T/gatewayd.conf"
setpriv --reuid "${P}gw" --regid "${P}c" --init-groups "$GW" -c "$T/gatewayd.conf" >"$T/gateway.log" 2>&1 &
BG_PIDS+=($!)
M=http://127.0.0.1:$MPORT/metrics
code_of() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
metrics_answer() { [ "$(code_of "$M")" = 200 ]; }
wait_for 10 metrics_answer || fail "GET /metrics is not 200: $(cat "$T/body" 2>/dev/null) $(tail -n 5 "$T/gateway.log")"
[ "$(tail -n 1 "$T/body")" = "# EOF" ] || fail "the text does not end with # EOF: $(tail -n 3 "$T/body")"
ctype=$(curl -s -o /dev/null -w '%{content_type}' "$M")
[[ $ctype == application/openmetrics-text* ]] || fail "Content-Type: $ctype"
[ "$(code_of -k "https://127.0.0.1:$PORT/metrics")" = 404 ] || fail "the storefront's port serves /metrics"
[ "$(code_of -X POST "$M")" = 405 ] || fail "POST /metrics is not 405"
say "GET /metrics on its own listener: OpenMetrics, ending # EOF; the storefront's port has no /metrics"

PPORT=$(free_port)
mkdir -p "$T/prom"
cat >"$T/prom/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: prepay
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
CONF
"$PROM" --config.file="$T/prom/prometheus.yml" --storage.tsdb.path="$T/prom/data" \
        --web.listen-address="127.0.0.1:$PPORT" >"$T/prom/log" 2>&1 &
BG_PIDS+=($!)
API=http://127.0.0.1:$PPORT/api/v1
# promql QUERY: the first result's value, empty when none.
promql() { curl -s --data-urlencode "query=$1" "$API/query" | jq -r '.data.result[0].value[1] // empty'; }
scraped_up() { [ "$(promql 'up{job="prepay"}')" = 1 ]; }
wait_for 60 scraped_up || fail "Prometheus did not scrape the gateway: $(tail -n 5 "$T/prom/log") $(curl -s "$API/targets")"
say "Prometheus scrapes the gateway (up == 1)"

# A funded slice burns 1.5 s of CPU; a top-up; the top-up's voucher again.
bg prepay run --voucher "$(mint 5.00)" --cpus 1 -- "$BIN/tests/burn" --cpu 1.5 >/dev/null 2>"$T/run.err"
s=$(slice_from_log "$T/run.err") || fail "no slice bought"
v=$(mint 1.00)
prepay topup "$s" --voucher "$v" >/dev/null 2>"$T/topup.err" || fail "top-up: $(cat "$T/topup.err")"
prepay topup "$s" --voucher "$v" >/dev/null 2>&1 && fail "a spent voucher was taken again"
# The workload is done: its CPU time no longer moves.
wait_for 60 field_is "$s" .state empty || fail "the burner did not finish: $(prepay status "$s")"
stopped=$(date +%s.%N)
# A scrape after that: the value Prometheus holds is final too.
scraped_after() {
        local t
        t=$(promql "timestamp(prepay_slice_cpu_seconds_total{slice=\"$s\"})")
        [ -n "$t" ] && awk -v t="$t" -v s="$stopped" 'BEGIN { exit !(t > s + 1) }'
}
wait_for 30 scraped_after || fail "no scrape of $s after the burner stopped: $(curl -s "$API/targets")"
prom_cpu=$(promql "prepay_slice_cpu_seconds_total{slice=\"$s\"}")
status_cpu=$(slice_field "$s" .usage.cpu_usec)
status_cpu=$(awk -v u="$status_cpu" 'BEGIN { printf "%.6f", u / 1e6 }')
awk -v c="$status_cpu" 'BEGIN { exit !(c >= 1.5) }' || fail "the slice used only $status_cpu s of CPU"
within "$prom_cpu" "$status_cpu" 2 || fail "PromQL says $prom_cpu CPU seconds, prepay status $status_cpu"
say "prepay_slice_cpu_seconds_total through PromQL: $prom_cpu s; prepay status: $status_cpu s"

redemptions=$(promql 'prepay_redemptions_total')
[ "$redemptions" = 2 ] || fail "prepay_redemptions_total is '$redemptions', not 2 (create and top-up)"
spent=$(promql 'prepay_vouchers_refused_total{reason="spent"}')
[ "$spent" = 1 ] || fail "prepay_vouchers_refused_total{reason=\"spent\"} is '$spent', not 1"
balance=$(promql "prepay_slice_balance{slice=\"$s\"}")
[ -n "$balance" ] || fail "no prepay_slice_balance for $s"
count=$(promql 'prepay_meter_pass_seconds_count')
[ "${count:-0}" -gt 0 ] || fail "prepay_meter_pass_seconds_count is '$count'"
say "redemptions 2, refused spent 1, the slice's balance $balance, $count meter passes: exact"

# The operator takes the gateway's right back: 403, said in its log.
config no
prepay reload >/dev/null 2>&1 || fail "reload failed"
[ "$(code_of "$M")" = 403 ] || fail "GET /metrics with Gateway=no: $(cat "$T/body")"
grep -q 'prepayd refused the metrics' "$T/gateway.log" || fail "the gateway did not say why: $(tail -n 3 "$T/gateway.log")"
say "a client's metrics request forbidden; with Gateway=no the listener answers 403"
prepay release "$s" >/dev/null 2>&1
exit 0
