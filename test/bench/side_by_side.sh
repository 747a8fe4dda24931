#!/usr/bin/env bash
# Two exporter binaries polling one simulated cluster at the same time, scraped alike: the
# CPU per node and poll and the RSS of each, measured over the same seconds of the same
# machine. On this VM single scale-driver runs vary by ±15% from run to run, more than most
# changes give; side by side, both binaries see the same load at the same moments
# (docs/performance.md).
#
#   test/bench/side_by_side.sh BIN_A BIN_B [NODES [POLLS [INTERVAL_S]]]
#
# Workload: the scale driver's full catalog (every metric group, --collect-all-interfaces),
# 30 pods x 2 containers per node, HTTPS with a token, --stats-period 0; both exporters are
# scraped for OpenMetrics with gzip once per interval, as Prometheus does. CPU is utime + stime
# from /proc/<pid>/stat over POLLS intervals after two warm-up ones; RSS is VmRSS at the end
# (which depends on where in its poll each process is) and VmHWM over those intervals (their
# peak; reset through /proc/<pid>/clear_refs), and the heap each exporter reports after its
# last poll (kube_metrics_bridge_heap_*: in use, free, returned to the kernel).
# The simulator is BIN_B's `simulate`. Defaults: 1000 nodes, 8 polls, 15 s.
#
# A_FLAGS and B_FLAGS (environment) add flags to one exporter: the same binary twice, with
# and without a flag. VIA=nghttpx puts nghttpx (Debian's nghttp2-proxy, an HTTP/2 server over
# TLS) between the exporters and a plain-HTTP simulator, and prints the requests per protocol
# from its access log: `VIA=nghttpx A_FLAGS=--http2 side_by_side.sh BIN BIN 100 8` measures
# HTTP/2 against HTTP/1.1 (docs/performance.md, "HTTP/2 to the API server").
set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
A=$1 B=$2 NODES=${3:-1000} POLLS=${4:-8} INTERVAL=${5:-15}
for bin in "$A" "$B"; do
  [[ -x $bin ]] || { echo "side_by_side: $bin is not an executable" >&2; exit 2; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  # SIGTERM: a background job of a non-interactive shell starts with SIGINT ignored, and
  # nghttpx keeps it so (the exporters and the simulator stop on either).
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Every metric group, as BIN_B's --help lists them (not a copy here that a new group would miss).
groups=$("$B" --help 2>&1 | sed -n 's/.*metric groups to export: \([a-z, -]*\) (default.*/\1/p' | tr -d ' ')
[[ $groups == *psi-avg* ]] || { echo "side_by_side: no metric groups in $B --help" >&2; exit 1; }
VIA=${VIA:-}
[[ -z $VIA || $VIA == nghttpx ]] || { echo "side_by_side: VIA is nghttpx or empty" >&2; exit 2; }
sim_tls=(--tls --write-kubeconfig "$work/kubeconfig")
[[ -z $VIA ]] || sim_tls=()
"$B" simulate --listen 127.0.0.1:0 --nodes "$NODES" --pods-per-node 30 --containers-per-pod 2 \
  --stats-period 0 --token side-by-side "${sim_tls[@]}" >"$work/sim.out" 2>"$work/sim.err" &
pids+=($!)
for _ in $(seq 1 600); do
  grep -q "listening on" "$work/sim.out" && break
  sleep 1
done
grep -q "listening on" "$work/sim.out" || { echo "side_by_side: the simulator did not start" >&2; exit 1; }
if [[ $VIA == nghttpx ]]; then
  command -v nghttpx >/dev/null || { echo "side_by_side: nghttpx missing (nghttp2-proxy)" >&2; exit 2; }
  backend=$(sed -n 's|.*listening on http://\(127\.0\.0\.1:[0-9]*\).*|\1|p' "$work/sim.out")
  [[ -n $backend ]] || { echo "side_by_side: no plain-HTTP address in the simulator's output" >&2; exit 1; }
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -days 1 -keyout "$work/key.pem" -out "$work/cert.pem" \
    2>/dev/null
  front=$((20000 + RANDOM % 20000))
  # --backend-read-timeout: the watches stay open for minutes between events.
  nghttpx --conf=/dev/null --workers=1 --no-ocsp --frontend="127.0.0.1,$front" \
    --backend="${backend/:/,}" --backend-read-timeout=10m --accesslog-file="$work/access.log" \
    '--accesslog-format=$alpn' "$work/key.pem" "$work/cert.pem" >"$work/nghttpx.err" 2>&1 &
  pids+=($!)
  cat >"$work/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: s, cluster: {server: "https://127.0.0.1:$front", certificate-authority: "$work/cert.pem"}}]
users: [{name: u, user: {token: side-by-side}}]
contexts: [{name: c, context: {cluster: s, user: u}}]
current-context: c
EOF
fi

ports=()
exporters=()
bins=("$A" "$B")
flags=("${A_FLAGS:-}" "${B_FLAGS:-}")
for i in 0 1; do
  port=$((20000 + RANDOM % 20000))
  # shellcheck disable=SC2086 # the extra flags are words
  "${bins[$i]}" --kubeconfig "$work/kubeconfig" --web.listen-address "127.0.0.1:$port" \
    --interval "${INTERVAL}s" --log.level=warn --max-concurrent-requests 16 \
    --metric-groups "$groups" --collect-all-interfaces ${flags[$i]} \
    >"$work/$port.out" 2>"$work/$port.err" &
  pids+=($!)
  exporters+=($!)
  ports+=("$port")
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
scrape() {
  local waits=()
  for port in "${ports[@]}"; do
    curl -s --compressed -H 'Accept: application/openmetrics-text;version=1.0.0' \
      -o /dev/null "http://127.0.0.1:$port/metrics" &
    waits+=($!)
  done
  wait "${waits[@]}"
}

for _ in 1 2; do sleep "$INTERVAL"; scrape; done
start=()
for p in "${exporters[@]}"; do
  start+=("$(cpu_ticks "$p")")
  echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true  # VmHWM from here: the window's peak
done
for _ in $(seq 1 "$POLLS"); do sleep "$INTERVAL"; scrape; done
hz=$(getconf CLK_TCK)
names=("$A${A_FLAGS:+ $A_FLAGS}" "$B${B_FLAGS:+ $B_FLAGS}")
for i in 0 1; do
  p=${exporters[$i]}
  ticks=$(($(cpu_ticks "$p") - ${start[$i]}))
  rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status")
  peak_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status")
  awk -v name="${names[$i]}" -v t="$ticks" -v hz="$hz" -v polls="$POLLS" -v nodes="$NODES" \
    -v rss="$rss_kb" -v peak="$peak_kb" 'BEGIN {
      printf "%s: %.3f ms CPU per node and poll, RSS %.1f MB at the end, %.1f MB at its peak\n",
      name, t * 1000 / hz / polls / nodes, rss / 1024, peak / 1024 }'
  # The heap as the exporter sees it after its last poll: in use, free, and what was returned.
  curl -s --compressed -H 'Accept: application/openmetrics-text;version=1.0.0' \
    "http://127.0.0.1:${ports[$i]}/metrics" |
    awk '/^kube_metrics_bridge_heap_(bytes|trims_total|released_bytes_total)/ {
      big = $2 > 1e6; printf "  %s %.1f%s\n", $1, (big ? $2 / 1e6 : $2), (big ? " MB" : "") }' || true
done
if [[ $VIA == nghttpx ]]; then
  echo "requests by protocol (nghttpx access log):"
  sort "$work/access.log" | uniq -c
fi
