#!/usr/bin/env bash
# Makes the report of README's advise section, on this machine, in a
# private network namespace: four Debian servers, each in trouble of its
# own while `backlogctl advise --trace 5s` watches them.
#   :8000  a Python server that listens with backlog 8 and accepts every
#          10 ms, hit by 200 clients at once
#   :8080  HAProxy with maxconn 20 in front of a server that holds every
#          connection, under 30 clients
#   :8081  nginx whose workers may open 16 descriptors, under 40 kept-alive
#          clients
#   :11211 memcached, stopped with SIGSTOP, under 30 clients
# The report is printed as a terminal of COLUMNS (default 120) shows it;
# the README's tour shows it at 80.
#
# Usage (as root): scripts/advise-example.sh [advise flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != --inside ]; then
	for cmd in python3 haproxy nginx memcached unshare script; do
		command -v "$cmd" >/dev/null || { echo "advise-example: $cmd not found (apt-get install python3 haproxy nginx memcached util-linux bsdutils)" >&2; exit 2; }
	done
	bin=$(mktemp -d)
	trap 'rm -rf "$bin"' EXIT
	go build -o "$bin/backlogctl" ./cmd/backlogctl
	# A private network namespace, and a private mount namespace whose
	# /mnt is a tmpfs: the servers' files have the same names in every run.
	exec unshare -n -m "$0" --inside "$bin" "$@"
fi
bin=$2
shift 2
ip link set lo up
mount -t tmpfs advise-example /mnt
dir=/mnt
pids=()
cleanup() {
	kill -CONT "${pids[@]}" 2>/dev/null || true
	kill "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT

python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 8000)); s.listen(8)
held = []
while True:
    c, _ = s.accept(); held.append(c); time.sleep(0.01)
' & pids+=($!)
python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 9000)); s.listen(1000)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' & pids+=($!)
cat >"$dir/haproxy.cfg" <<CFG
global
    maxconn 20
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend front
    bind 127.0.0.1:8080
    default_backend back
backend back
    server s1 127.0.0.1:9000
CFG
haproxy -W -db -f "$dir/haproxy.cfg" >/dev/null 2>&1 & pids+=($!)
cat >"$dir/nginx.conf" <<CFG
user root;
worker_processes 1;
worker_rlimit_nofile 16;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  keepalive_timeout 1h;
  server { listen 127.0.0.1:8081; location / { return 200 "ok\n"; } }
}
CFG
nginx -c "$dir/nginx.conf" -p "$dir" -g "daemon off;" & pids+=($!)
memcached -l 127.0.0.1 -p 11211 -U 0 -u nobody -b 16 & pids+=($!)
memcached=$!
for port in 8000 8080 8081 9000 11211; do
	until grep -q ":$(printf %04X "$port") 00000000:0000 0A" /proc/net/tcp; do sleep 0.1; done
done
kill -STOP "$memcached"

# Clients that keep their connections (nginx's send a kept-alive request).
clients() { # PORT COUNT [REQUEST]
	python3 -c '
import socket, sys, time
port, n, req = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode() if len(sys.argv) > 3 else b""
held = []
for _ in range(n):
    s = socket.socket(); s.setblocking(False)
    try: s.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    held.append(s)
time.sleep(0.5)
for s in held:
    if req:
        try: s.send(req)
        except OSError: pass
time.sleep(30)
' "$@" & pids+=($!)
}
clients 8080 30
clients 11211 30
clients 8081 40 $'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
sleep 1
(sleep 1; clients 8000 200) &
# The report on a terminal's stdout; its stderr (warnings; no countdown) apart.
script -qec "stty cols ${COLUMNS:-120}; $bin/backlogctl advise --trace 5s $* 2>$dir/stderr" /dev/null | tr -d '\r'
cat "$dir/stderr" >&2
