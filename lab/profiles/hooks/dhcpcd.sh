#!/bin/sh
# dhcpcd -c hook for the lab. dhcpcd installs the address and routes itself before it runs the
# hook, so this only reports. Environment: reason, interface, new_ip_address, new_subnet_cidr,
# new_routers, new_dhcp_server_identifier, new_dhcp_lease_time.
. "$(dirname "$0")/bootlab-event.sh"

case "$reason" in
  BOUND | REBOOT | INFORM | STATIC)
    bootlab_event bound address "$new_ip_address" interface "$interface" server "$new_dhcp_server_identifier" \
      lease_time "$new_dhcp_lease_time" router "$new_routers" client dhcpcd reason "$reason"
    ;;
  RENEW) bootlab_event renewed address "$new_ip_address" interface "$interface" server "$new_dhcp_server_identifier" client dhcpcd ;;
  REBIND) bootlab_event rebound address "$new_ip_address" interface "$interface" server "$new_dhcp_server_identifier" client dhcpcd ;;
  NAK) bootlab_event nak-received interface "$interface" client dhcpcd ;;
  RELEASE) bootlab_event released address "$old_ip_address" interface "$interface" client dhcpcd ;;
  EXPIRE) bootlab_event lease-lost address "$old_ip_address" interface "$interface" client dhcpcd reason EXPIRE ;;
esac
exit 0
