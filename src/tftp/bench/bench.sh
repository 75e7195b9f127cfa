#!/bin/sh
# TFTP download throughput: our `bootlab tftpd` against tftpd-hpa's `in.tftpd`, over one veth
# link, with the same client (`bootlab tftp get`, plus tftp-hpa's `tftp` for the plain case).
#
#   sudo src/tftp/bench/bench.sh [SIZE_MB=32] [RUNS=3]
#   env: BOOTLAB (default target/release/bootlab), IN_TFTPD (/usr/sbin/in.tftpd), TFTP (/usr/bin/tftp)
#
# Everything runs in a private network namespace made here (unshare --net): the client side, and
# a nested namespace for the servers (veth tc0 192.0.2.2 <-> ts0 192.0.2.1 ours, 192.0.2.3 hpa).
# Nothing touches the host's interfaces. Bounded: every transfer has a 120 s timeout and the
# namespace holder dies after 900 s. Prints one line per case: median seconds, MB/s, ratio.
set -eu

if [ "${BENCH_INNER:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "bench: needs root (network namespaces, in.tftpd)" >&2; exit 2; }
    BENCH_INNER=1 exec unshare --net --fork -- "$0" "$@"
fi

SIZE_MB=${1:-32}
RUNS=${2:-3}
[ "$RUNS" -ge 1 ] && [ "$RUNS" -le 20 ] || { echo "bench: RUNS must be 1..20" >&2; exit 2; }
BOOTLAB=$(realpath "${BOOTLAB:-target/release/bootlab}")
IN_TFTPD=${IN_TFTPD:-/usr/sbin/in.tftpd}
TFTP=${TFTP:-/usr/bin/tftp}
D=$(mktemp -d /tmp/bootlab-tftp-bench.XXXXXX)
PIDS=""

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$D"
}
trap cleanup EXIT INT TERM

ip link set lo up
# The servers' namespace: held by a bounded sleep, nested inside ours.
unshare --net sleep 900 &
NS=$!
PIDS="$NS"
i=0
while [ "$(readlink /proc/$NS/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do
    i=$((i + 1)); [ $i -lt 50 ] || { echo "bench: server namespace did not appear" >&2; exit 1; }
    sleep 0.05
done
ip link add tc0 type veth peer name ts0
ip link set ts0 netns "$NS"
ip addr add 192.0.2.2/24 dev tc0
ip link set tc0 up
nsenter -t "$NS" -n sh -c 'ip link set lo up; ip addr add 192.0.2.1/24 dev ts0; ip addr add 192.0.2.3/24 dev ts0; ip link set ts0 up'

mkdir "$D/root"
head -c "${SIZE_MB}M" /dev/urandom > "$D/root/bench.bin"
chmod 755 "$D/root"
chmod 644 "$D/root/bench.bin"
SIZE=$(stat -c %s "$D/root/bench.bin")

cat > "$D/ours.toml" <<EOT
root = "$D/root"
address = "192.0.2.1"
max-blksize = 65464
max-windowsize = 64
EOT
nsenter -t "$NS" -n "$BOOTLAB" tftpd --config "$D/ours.toml" > "$D/ours.events" 2> "$D/ours.log" &
PIDS="$PIDS $!"
nsenter -t "$NS" -n "$IN_TFTPD" --listen --foreground --address 192.0.2.3:69 --user root --secure "$D/root" \
    > "$D/hpa.log" 2>&1 &
PIDS="$PIDS $!"
i=0
until grep -q '"event":"ready"' "$D/ours.events" 2>/dev/null && nsenter -t "$NS" -n ss -lun | grep -q '192.0.2.3:69'; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "bench: servers not ready" >&2; cat "$D/ours.log" "$D/hpa.log" >&2; exit 1; }
    sleep 0.05
done

now_ns() { date +%s%N; }

# run_once CLIENT SERVER_IP OPTS -> prints seconds, or "fail"
run_once() {
    client=$1; ip=$2; shift 2
    rm -f "$D/out"
    t0=$(now_ns)
    if [ "$client" = ours ]; then
        timeout 120 "$BOOTLAB" tftp get --server "$ip" bench.bin -o "$D/out" "$@" > /dev/null 2>> "$D/client.log" || true
    else
        (cd "$D" && timeout 120 "$TFTP" -m binary "$ip" -c get bench.bin out > /dev/null 2>> "$D/client.log") || true
    fi
    t1=$(now_ns)
    if [ -f "$D/out" ] && [ "$(stat -c %s "$D/out")" = "$SIZE" ] && cmp -s "$D/out" "$D/root/bench.bin"; then
        echo "$t0 $t1" | awk '{ printf "%.4f\n", ($2 - $1) / 1e9 }'
    else
        echo fail
    fi
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "fail"; else print a[int((NR + 1) / 2)] }'; }

printf 'file %s MiB, %s runs per cell (median), client -> server over veth\n' "$SIZE_MB" "$RUNS"
printf '%-34s %10s %10s %10s %10s %8s\n' case "ours s" "hpa s" "ours MB/s" "hpa MB/s" ratio
bench_case() {
    label=$1; client=$2; shift 2
    ours=""; hpa=""
    r=0
    while [ $r -lt "$RUNS" ]; do
        ours="$ours $(run_once "$client" 192.0.2.1 "$@")"
        hpa="$hpa $(run_once "$client" 192.0.2.3 "$@")"
        r=$((r + 1))
    done
    case "$ours$hpa" in *fail*) printf '%-34s failures: ours [%s] hpa [%s]\n' "$label" "$ours" "$hpa"; return;; esac
    mo=$(echo "$ours" | median); mh=$(echo "$hpa" | median)
    echo "$label $mo $mh $SIZE" | awk '{ o = $4 / $2 / 1e6; h = $4 / $3 / 1e6;
        printf "%-34s %10.3f %10.3f %10.1f %10.1f %8.2f\n", $1, $2, $3, o, h, o / h }'
}
bench_case "512/w1(bootlab-get)" ours
bench_case "512/w1(tftp-hpa-client)" hpa-client
bench_case "blksize1468/w1" ours --blksize 1468
bench_case "blksize1468/w16" ours --blksize 1468 --windowsize 16
bench_case "blksize65464/w1" ours --blksize 65464
bench_case "blksize65464/w8" ours --blksize 65464 --windowsize 8
echo "ratio = our throughput / tftpd-hpa throughput; tftpd-hpa does not implement windowsize (RFC 7440) and answers w>1 lock-step"
