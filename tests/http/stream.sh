#!/usr/bin/env bash
# stream: outgoing-handler bodies stream both ways, and trailers pass both ways (app-c.wasm's
# /proxy, /upload and /trailers against upstream.py; the checks are in stream.py).
source "$(dirname "$0")/lib.sh"
flotilla_only stream || finish

up_port=$(free_port)
tls_port=$(free_port)
closed_port=$(free_port)
# A certificate for localhost that the server trusts (OpenSSL reads SSL_CERT_FILE).
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$work/key.pem" -out "$work/cert.pem" \
  >/dev/null 2>&1
python3 "$here/upstream.py" "$up_port" >"$work/upstream.log" 2>&1 &
up_pid=$!
python3 "$here/upstream.py" "$tls_port" "$work/cert.pem" "$work/key.pem" \
  >"$work/upstream-tls.log" 2>&1 &
tls_pid=$!
trap 'kill $up_pid $tls_pid 2>/dev/null; cleanup' EXIT
for ((i = 0; i < 50; i++)); do
  curl -s -o /dev/null "http://127.0.0.1:$up_port/last" &&
    curl -s -o /dev/null --cacert "$work/cert.pem" "https://localhost:$tls_port/last" && break
  sleep 0.2
done
export SSL_CERT_FILE=$work/cert.pem
start_server --allow-http 127.0.0.1 --allow-http localhost || finish
python3 "$here/stream.py" "$port" "$up_port" "$closed_port" "$tls_port" || fail=1
server_alive "after the stream checks"
finish
