#!/bin/sh
# dhclient -sf hook for the lab: replaces dhclient-script. Applies the address first, then prints
# the event line (a lab that stops the client on the event must find the interface configured).
# dhclient passes the lease in the environment: reason, interface, new_ip_address,
# new_subnet_mask, new_routers, new_dhcp_server_identifier, new_dhcp_lease_time.
. "$(dirname "$0")/bootlab-event.sh"

apply() {
  ip -4 addr flush dev "$interface" 2>/dev/null || true
  ip -4 addr add "$new_ip_address/$(bootlab_prefix "${new_subnet_mask:-255.255.255.0}")" dev "$interface"
  if [ -n "$new_routers" ]; then
    set -- $new_routers
    ip -4 route replace default via "$1" dev "$interface" 2>/dev/null || true
  fi
}

case "$reason" in
  PREINIT) ip link set dev "$interface" up ;;
  BOUND | REBOOT)
    apply
    bootlab_event bound address "$new_ip_address" interface "$interface" server "$new_dhcp_server_identifier" \
      lease_time "$new_dhcp_lease_time" router "$new_routers" client dhclient reason "$reason"
    ;;
  RENEW)
    [ "$new_ip_address" = "$old_ip_address" ] || apply
    bootlab_event renewed address "$new_ip_address" interface "$interface" server "$new_dhcp_server_identifier" client dhclient
    ;;
  REBIND)
    [ "$new_ip_address" = "$old_ip_address" ] || apply
    bootlab_event rebound address "$new_ip_address" interface "$interface" server "$new_dhcp_server_identifier" client dhclient
    ;;
  RELEASE | STOP)
    ip -4 addr flush dev "$interface" 2>/dev/null || true
    bootlab_event released address "$old_ip_address" interface "$interface" client dhclient
    ;;
  EXPIRE | FAIL)
    ip -4 addr flush dev "$interface" 2>/dev/null || true
    bootlab_event lease-lost address "$old_ip_address" interface "$interface" client dhclient reason "$reason"
    ;;
esac
exit 0
