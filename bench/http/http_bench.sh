#!/usr/bin/env bash
# HTTP serving benchmark, one run, a few minutes. See README.md.
#   bench/http/http_bench.sh [--json] [--duration SECONDS] [--connections N] [--threads N]
#                            [--flotilla PATH] [--wasm-dir DIR]
# Defaults: build/release/src/cli/flotilla, build/release/tests/http/wasm (target
# http_test_wasm), wrk -t2 -c64 -d10s --latency on 127.0.0.1.
#  (1) requests/s, p50, p99 for: nginx `return 200 "hello"`, flotilla serve of c/hello
#      (hello-c.wasm), flotilla serve of js/hello-handler.js, jco serve of the same; ratios
#      flotilla-C/nginx and flotilla-JS/jco-serve.
#  (2) start of `flotilla serve` to the first 200 for the uncached 12 MB JS component (empty
#      XDG_CACHE_HOME), and the same start again with that cache filled.
#  (3) per-request instantiation time of hello-c.wasm (optimized tier, fresh store, through an
#      InstancePre as the server does): the `http/instantiate` row of
#      build/release/bench/flotilla-bench-http-request, run here.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
json=0 duration=10 conns=64 threads=2
flotilla=$root/build/release/src/cli/flotilla
wasmdir=$root/build/release/tests/http/wasm
per_request_us=""
while (($#)); do
  case $1 in
    --json) json=1 ;;
    --duration) duration=$2; shift ;;
    --connections) conns=$2; shift ;;
    --threads) threads=$2; shift ;;
    --flotilla) flotilla=$2; shift ;;
    --wasm-dir) wasmdir=$2; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "http_bench: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in wrk nginx curl python3; do
  command -v $tool >/dev/null || { echo "http_bench: $tool missing (scripts/setup.sh)" >&2; exit 1; }
done
for f in "$flotilla" "$wasmdir/hello-c.wasm" "$wasmdir/hello-handler.wasm"; do
  [[ -e $f ]] || { echo "http_bench: $f missing (build flotilla and http_test_wasm)" >&2; exit 1; }
done
jco=$root/node_modules/.bin/jco
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
log() { echo "$@" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_200 URL SECONDS: polls until URL answers 200; prints the seconds it took.
wait_200() {
  python3 - "$1" "$2" <<'PY'
import sys, time, urllib.request
url, limit = sys.argv[1], float(sys.argv[2])
t0 = time.monotonic()
while time.monotonic() - t0 < limit:
    try:
        if urllib.request.urlopen(url, timeout=5).status == 200:
            print(f"{time.monotonic() - t0:.3f}"); sys.exit(0)
    except Exception:
        pass
    time.sleep(0.05)
print("timeout"); sys.exit(1)
PY
}
# to_ms VALUE_WITH_UNIT: wrk's 1.23ms / 456.00us / 1.20s -> milliseconds.
to_ms() {
  python3 -c "
import re,sys
m=re.match(r'([0-9.]+)(us|ms|s|m)\$','$1')
print('null' if not m else round(float(m.group(1))*{'us':0.001,'ms':1,'s':1000,'m':60000}[m.group(2)],3))"
}
# run_wrk NAME URL: wrk with the settings above; sets rps_NAME, p50_NAME, p99_NAME.
declare -A RPS P50 P99 ERRS
run_wrk() {
  local name=$1 url=$2
  curl -s -o /dev/null "$url"  # warm up one request
  log "wrk -t$threads -c$conns -d${duration}s --latency $url  ($name)"
  wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "$url" >"$work/wrk-$name.txt" 2>&1
  RPS[$name]=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk-$name.txt")
  P50[$name]=$(to_ms "$(awk '$1 == "50%" {print $2}' "$work/wrk-$name.txt")")
  P99[$name]=$(to_ms "$(awk '$1 == "99%" {print $2}' "$work/wrk-$name.txt")")
  local non2xx errs
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$work/wrk-$name.txt")
  errs=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$work/wrk-$name.txt")
  ERRS[$name]=$(( ${non2xx:-0} + ${errs:-0} ))
  [[ -n ${RPS[$name]} ]] || { RPS[$name]=null; log "$(cat "$work/wrk-$name.txt")"; }
}
# start_flotilla FILE TIER [env...]: flotilla serve on a free port; sets $url.
start_flotilla() {
  local file=$1 tier=$2 port
  shift 2
  port=$(free_port)
  url=http://127.0.0.1:$port/
  env "$@" setsid "$flotilla" serve --addr "127.0.0.1:$port" --tier "$tier" "$file" >"$work/fl-$port.out" \
    2>"$work/fl-$port.err" </dev/null &
  pids+=($!)
}
# stop_last: SIGTERM to the newest server's process group; SIGKILL after 30 s.
stop_last() {
  local p=${pids[-1]} i
  kill -TERM -- "-$p" 2>/dev/null
  for ((i = 0; i < 60; i++)); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$p" 2>/dev/null; then
    log "server $p still running 30 s after SIGTERM; killed"
    kill -KILL -- "-$p" 2>/dev/null
  fi
  wait "$p" 2>/dev/null
  unset 'pids[-1]'
}

# (1) nginx
port=$(free_port)
mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
user_line=""
[[ $(id -u) == 0 ]] && user_line="user $(id -un) $(id -gn);"
cat >"$work/nginx/nginx.conf" <<CONF
$user_line
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    location / { default_type text/plain; return 200 "hello"; }
  }
}
CONF
setsid nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/logs/error.log" \
  >"$work/nginx/out" 2>&1 </dev/null &
pids+=($!)
if [[ $(wait_200 "http://127.0.0.1:$port/" 20) == timeout ]]; then
  log "nginx did not start:"; log "$(cat "$work/nginx/out" "$work/nginx/logs/error.log")"; exit 1
fi
run_wrk nginx "http://127.0.0.1:$port/"
stop_last

# flotilla serve of c/hello on the optimized tier (compiled before it listens; a warm cache for
# it is fine: steady state is measured)
start_flotilla "$wasmdir/hello-c.wasm" optimized
if [[ $(wait_200 "$url" 180) == timeout ]]; then log "flotilla serve hello-c did not start"; exit 1; fi
run_wrk flotilla_c "$url"
stop_last

# The JS component on the baseline tier: its optimized tier takes minutes of gcc on both cores,
# which would run during the measurement.
start_flotilla "$wasmdir/hello-handler.wasm" baseline
if [[ $(wait_200 "$url" 180) == timeout ]]; then log "flotilla serve hello-handler did not start"; exit 1; fi
run_wrk flotilla_js "$url"
stop_last

port=$(free_port)
mkdir -p "$work/jcotmp"
TMPDIR=$work/jcotmp setsid "$jco" serve --host 127.0.0.1 --port "$port" \
  "$wasmdir/hello-handler.wasm" >"$work/jco.out" 2>&1 </dev/null &
pids+=($!)
if [[ $(wait_200 "http://127.0.0.1:$port/" 120) == timeout ]]; then log "jco serve did not start"; exit 1; fi
run_wrk jco_js "http://127.0.0.1:$port/"
stop_last

# (2) start to first 200, uncached then cached
mkdir -p "$work/cache"
start_flotilla "$wasmdir/hello-handler.wasm" auto XDG_CACHE_HOME="$work/cache"
cold=$(wait_200 "$url" 300)
stop_last
start_flotilla "$wasmdir/hello-handler.wasm" auto XDG_CACHE_HOME="$work/cache"
warm=$(wait_200 "$url" 300)
stop_last
[[ $cold == timeout ]] && cold=null
[[ $warm == timeout ]] && warm=null

# (3) per-request instantiation, from the benchmark's JSON (real time of `http/instantiate`)
reqbench=$root/build/release/bench/flotilla-bench-http-request
if [[ -x $reqbench ]]; then
  per_request_us=$(FLOTILLA_HTTP_COMPONENT="$wasmdir/hello-c.wasm" FLOTILLA_BENCH_TIER=optimized \
    "$reqbench" --benchmark_filter='^http/instantiate$' --benchmark_min_time=0.5 \
    --benchmark_format=json 2>/dev/null |
    python3 -c 'import json,sys; b=json.load(sys.stdin)["benchmarks"][0]; print(round(b["real_time"],2))' \
    2>/dev/null)
fi
[[ -n $per_request_us ]] || per_request_us=null

ratio() { python3 -c "a,b='$1','$2'; print('null' if 'null' in (a,b) or float(b)==0 else round(float(a)/float(b),3))"; }
r_c=$(ratio "${RPS[flotilla_c]}" "${RPS[nginx]}")
r_js=$(ratio "${RPS[flotilla_js]}" "${RPS[jco_js]}")

if ((json)); then
  cat <<JSON
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "wrk": {"threads": $threads, "connections": $conns, "duration_s": $duration},
  "servers": {
$(for n in nginx flotilla_c flotilla_js jco_js; do
    printf '    "%s": {"requests_per_s": %s, "p50_ms": %s, "p99_ms": %s, "errors": %s}' \
      "$n" "${RPS[$n]}" "${P50[$n]}" "${P99[$n]}" "${ERRS[$n]}"
    [[ $n != jco_js ]] && echo , || echo
  done)
  },
  "ratios": {"flotilla_c_over_nginx": $r_c, "flotilla_js_over_jco_serve": $r_js},
  "start_to_first_200_s": {"js_uncached": $cold, "js_cached": $warm},
  "per_request_instantiation_us": $per_request_us
}
JSON
else
  printf '%-34s %12s %10s %10s %8s\n' server requests/s p50_ms p99_ms errors
  for n in nginx flotilla_c flotilla_js jco_js; do
    case $n in
      nginx) label='nginx return 200 "hello"' ;;
      flotilla_c) label='flotilla serve hello-c.wasm' ;;
      flotilla_js) label='flotilla serve hello-handler.wasm' ;;
      jco_js) label='jco serve hello-handler.wasm' ;;
    esac
    printf '%-34s %12s %10s %10s %8s\n' "$label" "${RPS[$n]}" "${P50[$n]}" "${P99[$n]}" "${ERRS[$n]}"
  done
  echo
  echo "flotilla-C / nginx:          $r_c"
  echo "flotilla-JS / jco serve:     $r_js"
  echo "start to first 200, 12 MB JS component: uncached ${cold} s, cached ${warm} s"
  echo "per-request instantiation:   ${per_request_us} us"
  echo "(wrk -t$threads -c$conns -d${duration}s --latency on 127.0.0.1; $(nproc) cores shared by wrk and the server)"
fi
