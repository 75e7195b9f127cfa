#!/bin/sh
# Manual smoke test of `bootlab client` against a third-party server, inside a private network
# namespace (never the host's interfaces). Usage, as root or with `unshare -r`:
#   unshare --net sh src/client/smoke/netns.sh SERVER CLIENT_CONFIG [EXTRA_CLIENT_ARGS...]
# SERVER is dnsmasq | udhcpd | kea | dhcpd; the client runs on c0, the server in a second
# namespace on br0 (192.0.2.1/24), so unicast renewals really cross the veth. RUNS=2 runs the
# client twice (INIT-REBOOT with a lease file); LEASE, NOPING, SQUAT, LIMIT tune the run;
# CAPTURE=1 prints a tcpdump of c0; KEEP=1 keeps the run's directory.
set -eu
SERVER=$1; CFG=$2; shift 2
BOOTLAB=${BOOTLAB:-/work/main/target/debug/bootlab}
D=$(mktemp -d /tmp/bootlab-smoke.XXXXXX)
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
ip link set lo up
unshare --net sleep 600 & HOLDER=$!
sleep 0.2
cleanup() {
  kill "$SRV" 2>/dev/null || true
  kill "$HOLDER" 2>/dev/null || true
  [ -n "$SQ" ] && kill "$SQ" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$D"
}
SRV=; SQ=
trap cleanup EXIT
# The server's namespace holds a bridge br0 (192.0.2.1/24) with the client's peer port on it,
# and with SQUAT=addr a third namespace on the bridge that holds addr and answers ARP for it.
ip link add c0 type veth peer name c0p
ip link set c0p netns "$HOLDER"
IN="nsenter -t $HOLDER -n"
$IN sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
$IN ip link set lo up
$IN ip link add br0 type bridge
$IN ip link set c0p master br0
$IN ip link set c0p up
$IN ethtool -K c0p tx off >/dev/null 2>&1 || true
$IN ip addr add 192.0.2.1/24 dev br0
$IN ip link set br0 up
SQ=
if [ -n "${SQUAT:-}" ]; then
  unshare --net sleep 600 & SQ=$!
  sleep 0.2
  $IN ip link add q0p type veth peer name q0
  $IN ip link set q0 netns "$SQ"
  $IN ip link set q0p master br0
  $IN ip link set q0p up
  nsenter -t "$SQ" -n sh -c "ip link set q0 address 02:00:00:00:00:66; ip addr add $SQUAT/24 dev q0; ip link set q0 up; ethtool -K q0 tx off >/dev/null 2>&1 || true"
fi
ip link set c0 address 02:00:00:00:00:10
ip link set c0 up
ethtool -K c0 tx off >/dev/null 2>&1 || true
mkdir -p "$D/tftp"; head -c 3000 /dev/urandom > "$D/tftp/rom.img"; chmod -R a+rX "$D"
case "$SERVER" in
dnsmasq)
  $IN dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=br0 --bind-interfaces \
    --dhcp-authoritative --dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,${LEASE:-10m} \
    --dhcp-leasefile="$D/leases" --log-dhcp --log-facility=- --bootp-dynamic \
    --enable-tftp --tftp-root="$D/tftp" --dhcp-boot=rom.img,,192.0.2.1 ${NOPING:+--no-ping} \
    >"$D/server.log" 2>&1 & SRV=$! ;;
udhcpd)
  : > "$D/udhcpd.leases"
  printf 'start 192.0.2.100\nend 192.0.2.150\ninterface br0\nmax_leases 51\nlease_file %s\npidfile %s\noption subnet 255.255.255.0\noption router 192.0.2.1\noption lease %s\n' \
    "$D/udhcpd.leases" "$D/udhcpd.pid" "${LEASE:-600}" > "$D/udhcpd.conf"
  $IN busybox udhcpd -f -a 0 "$D/udhcpd.conf" >"$D/server.log" 2>&1 & SRV=$! ;;
kea)
  cat > "$D/kea.conf" <<KEA
{"Dhcp4": {"interfaces-config": {"interfaces": ["br0"], "dhcp-socket-type": "raw"},
 "lease-database": {"type": "memfile", "persist": true, "name": "$D/kea.leases"},
 "valid-lifetime": ${LEASE:-600},
 "subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.100 - 192.0.2.150"}],
   "option-data": [{"name": "routers", "data": "192.0.2.1"}]}],
 "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"}]}}
KEA
  KEA_PIDFILE_DIR=$D KEA_LOCKFILE_DIR=$D $IN kea-dhcp4 -c "$D/kea.conf" >"$D/server.log" 2>&1 & SRV=$! ;;
dhcpd)
  printf 'authoritative;\nddns-update-style none;\ndefault-lease-time %s;\nmax-lease-time %s;\nping-check false;\nsubnet 192.0.2.0 netmask 255.255.255.0 { range 192.0.2.100 192.0.2.150; option routers 192.0.2.1; }\n' \
    "${LEASE:-600}" "${LEASE:-600}" > "$D/dhcpd.conf"
  : > "$D/dhcpd.leases"
  $IN dhcpd -4 -f -d -cf "$D/dhcpd.conf" -lf "$D/dhcpd.leases" -pf "$D/dhcpd.pid" br0 >"$D/server.log" 2>&1 & SRV=$! ;;
*) echo "unknown server $SERVER" >&2; exit 2 ;;
esac
TCPD=
if [ -n "${CAPTURE:-}" ]; then
  tcpdump -i c0 -n -e -l --immediate-mode udp or arp >"$D/c0.txt" 2>/dev/null & TCPD=$!
fi
sleep 0.5
set +e
RUN=1
while [ "$RUN" -le "${RUNS:-1}" ]; do
  [ "$RUN" -gt 1 ] && echo "--- run $RUN"
  timeout "${LIMIT:-60}" "$BOOTLAB" client -c "$CFG" --interface c0 "$@"
  STATUS=$?
  RUN=$((RUN + 1))
done
set -e
echo "--- client exit status $STATUS; address on c0:"
ip -4 -br addr show dev c0
if [ -n "$TCPD" ]; then sleep 0.3; kill "$TCPD"; wait "$TCPD" 2>/dev/null; echo "--- c0 capture:"; cat "$D/c0.txt"; fi
echo "--- server log (last lines):"
tail -n "${SERVER_LINES:-15}" "$D/server.log"
exit $STATUS
