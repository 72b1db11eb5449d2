#!/usr/bin/env bash
# tier: an uncached component is served from the baseline tier at once and the optimized tier
# takes over in the background without a failed request. The server starts with an empty
# cache (--cache-dir in the temporary directory, default tier auto); 4 clients send keep-alive
# requests without pause until the server logs "optimized tier in use" and 200 more requests
# have been answered; every response must be 200 with the right body. The stop line must then
# count requests on the optimized tier.
source "$(dirname "$0")/lib.sh"

flotilla_only "tier switch (a flotilla feature)" || { rm -rf "$work"; exit 0; }
start_server --tier auto --cache-dir "$work/cache" || finish
python3 - "$port" "$work/server.err" <<'PY'
import http.client, sys, threading, time
port, log = int(sys.argv[1]), sys.argv[2]
paths = [("/", "hello"), ("/state", "count=1 heap=fresh")]
lock = threading.Lock()
stats = {"ok": 0, "bad": [], "after": 0}
switched = threading.Event()
done = threading.Event()

def client(k):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    i = k
    while not done.is_set():
        path, want = paths[i % 2]
        i += 1
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read().decode()
            good = r.status == 200 and body == want
        except Exception as e:  # a dropped connection counts as a failed request
            good, body = False, repr(e)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        with lock:
            if good:
                stats["ok"] += 1
                if switched.is_set():
                    stats["after"] += 1
            else:
                stats["bad"].append((path, body[:200]))

threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in threads: t.start()
t0 = time.monotonic()
while time.monotonic() - t0 < 240:
    with open(log) as f:
        if "optimized tier in use" in f.read():
            switched.set()
    with lock:
        if switched.is_set() and stats["after"] >= 200:
            break
    time.sleep(0.1)
done.set()
for t in threads: t.join()
print(f"{stats['ok']} good responses, {stats['after']} after the switch, "
      f"{len(stats['bad'])} failed {stats['bad'][:3]}; switch logged: {switched.is_set()} "
      f"after {time.monotonic() - t0:.1f} s")
sys.exit(0 if switched.is_set() and not stats["bad"] and stats["after"] >= 200 else 1)
PY
expect "baseline to optimized while under load: no failed request" test $? = 0
stop_server
line=$(grep "stopped after" "$work/server.err")
echo "     $line"
n=$(sed -nE 's/.* ([0-9]+) on the optimized tier.*/\1/p' <<<"$line")
expect "requests were served on the optimized tier (stop line: $line)" test "${n:-0}" -gt 0
finish
