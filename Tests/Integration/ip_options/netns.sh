# Runs inside `unshare -n`: a private network namespace with only lo, in
# which the kernel follows loopback source routes (never the host's sysctls).
# Usage: netns.sh SERVER PORT MODE OPTIONS-HEX
set -u
ip link set lo up
sysctl -q -w net.ipv4.conf.all.accept_source_route=1 net.ipv4.conf.lo.route_localnet=1 \
    net.ipv4.conf.lo.accept_local=1
here=$(dirname "$0")
timeout 20 "$1" "$2" & srv=$!
hexport=$(printf '%04X' "$2")
for _ in $(seq 200); do
    grep -q ":$hexport 00000000:0000 0A" /proc/net/tcp && break
    sleep 0.05
done
timeout 15 python3 "$here/client.py" "$2" "$3" "$4" & cli=$!
wait $srv
rc=$?
kill $cli 2>/dev/null
wait $cli 2>/dev/null
exit $rc
