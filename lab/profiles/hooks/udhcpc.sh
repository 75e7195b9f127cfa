#!/bin/sh
# busybox udhcpc -s hook for the lab. Applies the address first, then prints the event line.
# udhcpc passes $1 (deconfig, bound, renew, nak, leasefail) and the lease in the environment:
# interface, ip, mask (prefix length), router, serverid, lease.
. "$(dirname "$0")/bootlab-event.sh"

apply() {
  ip -4 addr flush dev "$interface" 2>/dev/null || true
  ip -4 addr add "$ip/${mask:-24}" dev "$interface"
  if [ -n "$router" ]; then
    set -- $router
    ip -4 route replace default via "$1" dev "$interface" 2>/dev/null || true
  fi
}

case "$1" in
  deconfig)
    ip link set dev "$interface" up
    ip -4 addr flush dev "$interface" 2>/dev/null || true
    ;;
  bound)
    apply
    bootlab_event bound address "$ip" interface "$interface" server "$serverid" lease_time "$lease" router "$router" client udhcpc
    ;;
  renew)
    apply
    bootlab_event renewed address "$ip" interface "$interface" server "$serverid" lease_time "$lease" client udhcpc
    ;;
  nak)
    bootlab_event nak-received interface "$interface" client udhcpc
    ;;
esac
exit 0
