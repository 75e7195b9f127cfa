//! Core tests: each drives [`Server`] directly with a fake `now`, through emit/parse.

use super::*;
use bootlab_wire::bootp::FLAG_BROADCAST;
use std::path::Path;

const BASE: &str = r#"
interface = "eth0"
boot-dir = "/tftpboot"
lease-time = 600
offer-hold = 10
decline-probation = 100
[options]
routers = ["192.0.2.1"]
domain-name-servers = ["192.0.2.53"]
domain-name = "lab.example"
[[subnet]]
network = "192.0.2.0/24"
pools = ["192.0.2.100-192.0.2.102"]
[[subnet]]
network = "198.51.100.0/24"
pools = ["198.51.100.50-198.51.100.60"]
[[host]]
hardware = "02:00:00:00:00:10"
address = "192.0.2.10"
host-name = "rom"
"#;

/// A server on 192.0.2.1/24 with `BASE` and top-level keys `extra` before it.
fn server(extra: &str) -> Server {
    server_from(&format!("{extra}\n{BASE}"))
}

/// A server on 192.0.2.1/24 with the configuration `text`.
fn server_from(text: &str) -> Server {
    let c = Config::parse(text, Path::new("test.toml")).expect("test config");
    Server::new(
        &c,
        vec![(Ipv4Addr::new(192, 0, 2, 1), 24)],
        Table::default(),
    )
    .expect("server")
}

fn mac(n: u8) -> [u8; 6] {
    [2, 0, 0, 0, 0, n]
}

fn dhcp(t: MessageType, n: u8) -> Message {
    Message::new_dhcp(t, 0x1000 + u32::from(n), mac(n))
}

fn bootp(n: u8) -> Message {
    Message::new_request(0x2000 + u32::from(n), mac(n))
}

fn at(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn run(s: &mut Server, now: u64, m: &Message) -> Vec<Action> {
    let bytes = m.emit();
    let mut out = Vec::new();
    let src = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
    s.handle(
        at(now),
        Incoming {
            bytes: &bytes,
            source: src,
        },
        &mut out,
    );
    out
}

fn sent(actions: &[Action]) -> Vec<(Message, Destination)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { message, dest } => {
                // Every reply must survive its own codec.
                let (m, _) = Message::parse(&message.emit()).expect("reply parses");
                Some((m, *dest))
            }
            _ => None,
        })
        .collect()
}

fn one(actions: &[Action]) -> (Message, Destination) {
    let s = sent(actions);
    assert_eq!(s.len(), 1, "expected one reply in {actions:?}");
    s.into_iter().next().expect("one")
}

fn events(actions: &[Action]) -> Vec<(&'static str, serde_json::Value)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event { name, fields } => Some((*name, fields.clone())),
            _ => None,
        })
        .collect()
}

fn ignored_reason(actions: &[Action]) -> Option<String> {
    events(actions)
        .into_iter()
        .find(|(n, _)| *n == "ignored")
        .and_then(|(_, f)| f["reason"].as_str().map(String::from))
}

fn journal(actions: &[Action]) -> Vec<Record> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Journal(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn opts(m: &Message) -> &Options {
    m.options().expect("options")
}

fn a(s: &str) -> Ipv4Addr {
    s.parse().expect("address")
}

/// DISCOVER + REQUEST (SELECTING) for client `n`; returns the ACKed address.
fn dora(s: &mut Server, now: u64, n: u8) -> Ipv4Addr {
    let (offer, _) = one(&run(s, now, &dhcp(MessageType::Discover, n)));
    let mut req = dhcp(MessageType::Request, n);
    req.options_mut()
        .set_ip(code::REQUESTED_IP_ADDRESS, offer.yiaddr);
    req.options_mut()
        .set_ip(code::SERVER_IDENTIFIER, s.server_id());
    let (ack, _) = one(&run(s, now, &req));
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    ack.yiaddr
}

#[test]
fn bootp_static_binding_resolves_generic_boot_file() {
    // RFC 951 §7.3: the client asks for "unix", the reply names its full path.
    let mut s = server("");
    let mut req = bootp(0x10);
    req.set_file("unix");
    let (reply, dest) = one(&run(&mut s, 0, &req));
    assert_eq!(reply.op, Op::BootReply);
    assert_eq!(reply.yiaddr, a("192.0.2.10"));
    assert_eq!(reply.file_str(), "/tftpboot/unix");
    assert_eq!(reply.siaddr, a("192.0.2.1"));
    assert_eq!(
        reply.message_type(),
        None,
        "a BOOTREPLY carries no option 53"
    );
    assert_eq!(opts(&reply).ip(code::SUBNET_MASK), Some(a("255.255.255.0")));
    assert_eq!(opts(&reply).text(code::HOST_NAME).as_deref(), Some("rom"));
    // RFC 1542 §5.4 default: B = 0 -> unicast to yiaddr/chaddr via a neighbour entry.
    assert_eq!(
        dest,
        Destination::Neighbour {
            addr: SocketAddrV4::new(a("192.0.2.10"), 68),
            hwaddr: mac(0x10)
        }
    );
    assert!(
        journal(&run(&mut s, 1, &req)).is_empty(),
        "static bindings are not journaled"
    );
}

#[test]
fn overloaded_file_and_sname_are_options_not_names() {
    // RFC 2131 §4.1: under option 52 the fields hold options; the reply must not echo them as
    // a boot file name, nor read them as another server's name.
    let mut s = server("server-name = \"boot1\"");
    let mut req = dhcp(MessageType::Discover, 1);
    req.options_mut().set(code::OPTION_OVERLOAD, vec![3]);
    req.file[..4].copy_from_slice(&[61, 1, 9, 255]);
    req.sname[..4].copy_from_slice(&[12, 1, b'x', 255]);
    let (reply, _) = one(&run(&mut s, 0, &req));
    assert_eq!(reply.message_type(), Some(MessageType::Offer));
    assert_eq!(reply.file_str(), "");
}

#[test]
fn a_request_naming_another_server_in_sname_is_left_alone() {
    let mut s = server("server-name = \"boothost\"");
    let mut req = bootp(0x10);
    req.set_sname("otherhost");
    assert_eq!(
        ignored_reason(&run(&mut s, 0, &req)).as_deref(),
        Some("other-server-name")
    );
    req.set_sname("boothost");
    let (reply, _) = one(&run(&mut s, 0, &req));
    assert_eq!(reply.sname_str(), "boothost");
}

#[test]
fn bootp_without_cookie_gets_no_options() {
    let mut s = server("");
    let mut req = bootp(0x10);
    req.vend = Vendor::Raw(vec![0; 64]);
    let (reply, _) = one(&run(&mut s, 0, &req));
    assert!(
        reply.options().is_none(),
        "RFC 951 vendor area answered in kind"
    );
}

#[test]
fn rfc1534_bootp_client_gets_a_permanent_pool_address() {
    // Infinite only when configured (finite by default, issue 18).
    let mut s = server("bootp-dynamic = true\nbootp-lease-time = 4294967295");
    let acts = run(&mut s, 0, &bootp(1));
    let (reply, _) = one(&acts);
    assert!(s.pools[0].contains(reply.yiaddr));
    assert_eq!(
        journal(&acts),
        vec![Record::Bind {
            addr: reply.yiaddr,
            client: "01020000000001".into(),
            hw: "020000000001".into(),
            expires: None
        }]
    );
    // Never reclaimed: a DHCP client far in the future does not get it.
    for n in 2..4 {
        let (offer, _) = one(&run(&mut s, 10_000_000, &dhcp(MessageType::Discover, n)));
        assert_ne!(offer.yiaddr, reply.yiaddr);
    }
    // The same BOOTP client gets the same address again.
    let (again, _) = one(&run(&mut s, 5, &bootp(1)));
    assert_eq!(again.yiaddr, reply.yiaddr);
}

#[test]
fn bootp_can_be_switched_off_or_limited_to_static_bindings() {
    let mut s = server("bootp-dynamic = false");
    assert_eq!(
        ignored_reason(&run(&mut s, 0, &bootp(1))).as_deref(),
        Some("no-binding")
    );
    let mut s = server("bootp = false");
    assert_eq!(
        ignored_reason(&run(&mut s, 0, &bootp(0x10))).as_deref(),
        Some("bootp-disabled")
    );
}

#[test]
fn dora_offer_and_ack_carry_lease_server_id_and_requested_parameters() {
    let mut s = server("");
    let mut d = dhcp(MessageType::Discover, 1);
    d.options_mut()
        .push(code::PARAMETER_REQUEST_LIST, vec![6, 3, 1, 99, 3, 15]);
    let (offer, _) = one(&run(&mut s, 0, &d));
    assert_eq!(offer.message_type(), Some(MessageType::Offer));
    let o = opts(&offer);
    assert_eq!(o.server_identifier(), Some(a("192.0.2.1")));
    assert_eq!(o.lease_time(), Some(600));
    assert_eq!(o.renewal_time(), Some(300));
    assert_eq!(o.rebinding_time(), Some(525));
    // PRL order, each once, unknown 99 left out; never 50/55/57 in a reply.
    assert_eq!(o.codes(), vec![53, 54, 51, 58, 59, 6, 3, 1, 15]);
    assert_eq!(offer.ciaddr, Ipv4Addr::UNSPECIFIED);
    let mut r = dhcp(MessageType::Request, 1);
    r.options_mut()
        .set_ip(code::REQUESTED_IP_ADDRESS, offer.yiaddr);
    r.options_mut()
        .set_ip(code::SERVER_IDENTIFIER, a("192.0.2.1"));
    let acts = run(&mut s, 1, &r);
    let (ack, _) = one(&acts);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr, offer.yiaddr);
    assert!(matches!(
        journal(&acts)[..],
        [Record::Bind {
            expires: Some(601),
            ..
        }]
    ));
    assert!(events(&acts).iter().any(|(n, _)| *n == "lease-acked"));
    // Journal before send: the record precedes the reply in the action list.
    let ji = acts.iter().position(|a| matches!(a, Action::Journal(_)));
    let si = acts.iter().position(|a| matches!(a, Action::Send { .. }));
    assert!(ji < si);
}

#[test]
fn offers_are_held_then_released_after_the_hold_time() {
    let mut s = server("");
    let (o1, _) = one(&run(&mut s, 0, &dhcp(MessageType::Discover, 1)));
    let (o2, _) = one(&run(&mut s, 1, &dhcp(MessageType::Discover, 2)));
    let (o3, _) = one(&run(&mut s, 2, &dhcp(MessageType::Discover, 3)));
    assert!(o1.yiaddr != o2.yiaddr && o2.yiaddr != o3.yiaddr && o1.yiaddr != o3.yiaddr);
    // Pool of three, all reserved: a fourth client is offered the oldest reservation too, and
    // the first REQUEST wins (issue 18: reservations must not let a burst of DISCOVERs starve
    // new clients)...
    // Its first DISCOVER is not answered (a one-shot id is not yet a client); it asks again.
    let first = run(&mut s, 3, &dhcp(MessageType::Discover, 4));
    assert!(sent(&first).is_empty());
    assert_eq!(
        ignored_reason(&first).as_deref(),
        Some("pool-exhausted-first-discover")
    );
    let (o4, _) = one(&run(&mut s, 3, &dhcp(MessageType::Discover, 4)));
    assert_eq!(o4.yiaddr, o1.yiaddr);
    assert_eq!(s.counters.offers_overbooked, 1);
    let mut r = dhcp(MessageType::Request, 4);
    r.options_mut()
        .set_ip(code::REQUESTED_IP_ADDRESS, o4.yiaddr);
    r.options_mut()
        .set_ip(code::SERVER_IDENTIFIER, s.server_id());
    let (ack, _) = one(&run(&mut s, 3, &r));
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    let mut r = dhcp(MessageType::Request, 1);
    r.options_mut()
        .set_ip(code::REQUESTED_IP_ADDRESS, o1.yiaddr);
    r.options_mut()
        .set_ip(code::SERVER_IDENTIFIER, s.server_id());
    let (nak, _) = one(&run(&mut s, 3, &r));
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    // ...and without pressure a reservation is simply free again once the hold (10 s) ends.
    let mut s = server("");
    let (o1, _) = one(&run(&mut s, 0, &dhcp(MessageType::Discover, 1)));
    for n in 2..=3 {
        one(&run(&mut s, 1, &dhcp(MessageType::Discover, n)));
    }
    let (o5, _) = one(&run(&mut s, 11, &dhcp(MessageType::Discover, 5)));
    assert_eq!(o5.yiaddr, o1.yiaddr);
    assert_eq!(s.counters.offers_overbooked, 0);
}

#[test]
fn request_naming_another_server_is_silence_and_frees_our_offer() {
    let mut s = server("");
    let (offer, _) = one(&run(&mut s, 0, &dhcp(MessageType::Discover, 1)));
    let mut r = dhcp(MessageType::Request, 1);
    r.options_mut()
        .set_ip(code::REQUESTED_IP_ADDRESS, a("203.0.113.9"));
    r.options_mut()
        .set_ip(code::SERVER_IDENTIFIER, a("203.0.113.1"));
    let acts = run(&mut s, 1, &r);
    assert!(sent(&acts).is_empty());
    assert_eq!(ignored_reason(&acts).as_deref(), Some("other-server"));
    assert!(s.table().get(offer.yiaddr).is_none());
}

#[test]
fn init_reboot_nak_on_wrong_subnet_silence_without_record_ack_for_owner() {
    let mut s = server("");
    let addr = dora(&mut s, 0, 1);
    let mut r = dhcp(MessageType::Request, 1);
    r.options_mut()
        .set_ip(code::REQUESTED_IP_ADDRESS, a("198.51.100.55"));
    let (nak, dest) = one(&run(&mut s, 5, &r));
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    assert_eq!(
        dest,
        Destination::Broadcast(68),
        "RFC 2131 §4.1: NAK broadcast when giaddr = 0"
    );
    let o = opts(&nak);
    assert!(!o.contains(code::IP_ADDRESS_LEASE_TIME));
    assert_eq!(nak.yiaddr, Ipv4Addr::UNSPECIFIED);
    // Unknown client: silence (RFC 2131 §4.3.2).
    let mut u = dhcp(MessageType::Request, 7);
    u.options_mut()
        .set_ip(code::REQUESTED_IP_ADDRESS, a("192.0.2.101"));
    let acts = run(&mut s, 5, &u);
    assert!(sent(&acts).is_empty());
    assert_eq!(ignored_reason(&acts).as_deref(), Some("no-record"));
    // The owner rebooting with its address: ACK.
    let mut ok = dhcp(MessageType::Request, 1);
    ok.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, addr);
    let (ack, _) = one(&run(&mut s, 6, &ok));
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
}

#[test]
fn renewing_is_acked_unicast_to_ciaddr_with_a_fresh_lease() {
    let mut s = server("");
    let addr = dora(&mut s, 0, 1);
    let mut r = dhcp(MessageType::Request, 1);
    r.ciaddr = addr;
    let acts = run(&mut s, 300, &r);
    let (ack, dest) = one(&acts);
    assert_eq!(ack.ciaddr, addr);
    assert_eq!(dest, Destination::Unicast(SocketAddrV4::new(addr, 68)));
    assert!(matches!(
        journal(&acts)[..],
        [Record::Bind {
            expires: Some(900),
            ..
        }]
    ));
    // A lease on a routed subnet renewed by unicast (giaddr 0) is judged by ciaddr's subnet.
    let mut d = dhcp(MessageType::Discover, 5);
    d.giaddr = a("198.51.100.1");
    let (o, _) = one(&run(&mut s, 0, &d));
    let mut sel = dhcp(MessageType::Request, 5);
    sel.giaddr = a("198.51.100.1");
    sel.options_mut()
        .set_ip(code::REQUESTED_IP_ADDRESS, o.yiaddr);
    sel.options_mut()
        .set_ip(code::SERVER_IDENTIFIER, s.server_id());
    one(&run(&mut s, 0, &sel));
    let mut renew = dhcp(MessageType::Request, 5);
    renew.ciaddr = o.yiaddr;
    let (ack, dest) = one(&run(&mut s, 10, &renew));
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(dest, Destination::Unicast(SocketAddrV4::new(o.yiaddr, 68)));
    // Rebinding at another server's lease: silence.
    let mut other = dhcp(MessageType::Request, 9);
    other.ciaddr = a("192.0.2.102");
    assert!(sent(&run(&mut s, 300, &other)).is_empty());
}

#[test]
fn decline_quarantines_the_address_for_the_probation_time() {
    let mut s = server("");
    let addr = dora(&mut s, 0, 1);
    // A spoofed DECLINE from another client is ignored (SEC-DECL-01).
    let mut spoof = dhcp(MessageType::Decline, 2);
    spoof.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, addr);
    let acts = run(&mut s, 1, &spoof);
    assert_eq!(ignored_reason(&acts).as_deref(), Some("decline-not-owner"));
    assert!(s.table().get(addr).is_some_and(|l| l.is_bound(1)));
    let mut d = dhcp(MessageType::Decline, 1);
    d.options_mut().set_ip(code::REQUESTED_IP_ADDRESS, addr);
    d.options_mut()
        .set_ip(code::SERVER_IDENTIFIER, s.server_id());
    let acts = run(&mut s, 2, &d);
    assert!(sent(&acts).is_empty(), "a DECLINE gets no reply");
    assert_eq!(journal(&acts), vec![Record::Decline { addr, until: 102 }]);
    assert!(events(&acts)
        .iter()
        .any(|(n, f)| *n == "declined" && f["address"] == addr.to_string()));
    // During probation nobody, not even the decliner, is offered it (the pool then runs dry).
    for (t, n) in [(3, 1), (4, 2)] {
        let (o, _) = one(&run(&mut s, t, &dhcp(MessageType::Discover, n)));
        assert_ne!(o.yiaddr, addr);
    }
    // A third client gets an offer reservation back, never the address in probation.
    // (on its retransmission: the pool is exhausted)
    assert!(sent(&run(&mut s, 5, &dhcp(MessageType::Discover, 3))).is_empty());
    let (o, _) = one(&run(&mut s, 5, &dhcp(MessageType::Discover, 3)));
    assert_ne!(o.yiaddr, addr);
    // After probation (and after the other offers' hold) it is usable again.
    let (o, _) = one(&run(&mut s, 200, &dhcp(MessageType::Discover, 4)));
    assert!(s.pools[0].contains(o.yiaddr));
}

#[test]
fn release_frees_the_address_and_it_goes_back_to_the_same_client_first() {
    let mut s = server("");
    let addr = dora(&mut s, 0, 1);
    let mut r = dhcp(MessageType::Release, 1);
    r.ciaddr = addr;
    r.options_mut()
        .set_ip(code::SERVER_IDENTIFIER, s.server_id());
    let acts = run(&mut s, 1, &r);
    assert!(sent(&acts).is_empty());
    assert_eq!(
        journal(&acts),
        vec![Record::Free {
            addr,
            client: "01020000000001".into()
        }]
    );
    let (o, _) = one(&run(&mut s, 2, &dhcp(MessageType::Discover, 1)));
    assert_eq!(o.yiaddr, addr);
}

#[test]
fn inform_gets_parameters_without_a_lease() {
    let mut s = server("");
    let mut i = dhcp(MessageType::Inform, 1);
    i.ciaddr = a("192.0.2.77");
    let acts = run(&mut s, 0, &i);
    let (ack, dest) = one(&acts);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert!(!opts(&ack).contains(code::IP_ADDRESS_LEASE_TIME));
    assert_eq!(opts(&ack).ips(code::ROUTER), Some(vec![a("192.0.2.1")]));
    assert_eq!(
        dest,
        Destination::Unicast(SocketAddrV4::new(a("192.0.2.77"), 68))
    );
    assert!(journal(&acts).is_empty());
}

#[test]
fn relayed_requests_use_the_giaddr_subnet_and_get_option_82_back() {
    let mut s = server("");
    let mut d = dhcp(MessageType::Discover, 1);
    d.giaddr = a("198.51.100.1");
    d.hops = 1;
    d.options_mut()
        .push(code::RELAY_AGENT_INFORMATION, vec![1, 3, b'e', b't', b'0']);
    let (offer, dest) = one(&run(&mut s, 0, &d));
    assert!(Cidr {
        addr: a("198.51.100.0"),
        prefix: 24
    }
    .contains(offer.yiaddr));
    assert_eq!(
        dest,
        Destination::Unicast(SocketAddrV4::new(a("198.51.100.1"), 67))
    );
    assert_eq!(offer.giaddr, a("198.51.100.1"));
    assert_eq!(offer.hops, 0);
    let o = opts(&offer);
    assert_eq!(o.codes().last(), Some(&code::RELAY_AGENT_INFORMATION));
    assert_eq!(o.get(82), Some(vec![1, 3, b'e', b't', b'0']));
    // A NAK through a relay has the broadcast bit set (RFC 2131 §4.3.2).
    let mut r = dhcp(MessageType::Request, 1);
    r.giaddr = a("198.51.100.1");
    r.options_mut()
        .set_ip(code::REQUESTED_IP_ADDRESS, a("192.0.2.100"));
    let (nak, _) = one(&run(&mut s, 1, &r));
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    assert_ne!(nak.flags & FLAG_BROADCAST, 0);
}

#[test]
fn backup_mode_ignores_requests_below_the_secs_threshold() {
    let mut s = server("secs-threshold = 4");
    let mut d = dhcp(MessageType::Discover, 1);
    d.secs = 3;
    let acts = run(&mut s, 0, &d);
    assert!(sent(&acts).is_empty());
    assert_eq!(
        ignored_reason(&acts).as_deref(),
        Some("secs-below-threshold")
    );
    assert_eq!(s.counters.ignored_secs, 1);
    d.secs = 4;
    assert_eq!(sent(&run(&mut s, 1, &d)).len(), 1);
    // 0x0100 reads as 256 seconds, not 1 (byte order).
    let mut b = bootp(0x10);
    b.secs = 0x0100;
    let mut s = server("secs-threshold = 30");
    assert_eq!(sent(&run(&mut s, 0, &b)).len(), 1);
}

#[test]
fn bad_packets_are_counted_and_dropped() {
    let mut s = server("");
    let mut out = Vec::new();
    let src = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
    let good = dhcp(MessageType::Discover, 1).emit();
    s.handle(
        at(0),
        Incoming {
            bytes: &good[..100],
            source: src,
        },
        &mut out,
    );
    s.handle(
        at(0),
        Incoming {
            bytes: &good[..299],
            source: src,
        },
        &mut out,
    );
    s.handle(
        at(0),
        Incoming {
            bytes: &[],
            source: src,
        },
        &mut out,
    );
    let mut reply_op = dhcp(MessageType::Discover, 1);
    reply_op.op = Op::BootReply;
    s.handle(
        at(0),
        Incoming {
            bytes: &reply_op.emit(),
            source: src,
        },
        &mut out,
    );
    let mut hops = dhcp(MessageType::Discover, 1);
    hops.hops = 17;
    hops.giaddr = a("198.51.100.1");
    s.handle(
        at(0),
        Incoming {
            bytes: &hops.emit(),
            source: src,
        },
        &mut out,
    );
    let mut mt = dhcp(MessageType::Discover, 1);
    mt.options_mut().set(code::DHCP_MESSAGE_TYPE, vec![1, 2]);
    s.handle(
        at(0),
        Incoming {
            bytes: &mt.emit(),
            source: src,
        },
        &mut out,
    );
    assert!(sent(&out).is_empty());
    assert_eq!(s.counters.dropped_malformed, 4);
    assert_eq!(s.counters.dropped_op, 1);
    assert_eq!(s.counters.dropped_hops, 1);
    // And the server still serves.
    assert_eq!(
        sent(&run(&mut s, 0, &dhcp(MessageType::Discover, 1))).len(),
        1
    );
}

#[test]
fn nt4_sp2_quirk_broadcasts_and_leaves_no_neighbour_entry() {
    let mut s = server("reply-policy = \"neighbour\"\nquirks = [\"nt4-sp2\"]");
    let (_, dest) = one(&run(&mut s, 0, &bootp(0x10)));
    assert_eq!(dest, Destination::Broadcast(68));
}

#[test]
fn reply_policies_for_a_client_without_address() {
    for (policy, want_raw) in [("raw", true), ("neighbour", false)] {
        let mut s = server(&format!("reply-policy = \"{policy}\""));
        let mut d = dhcp(MessageType::Discover, 0x10);
        d.flags = FLAG_BROADCAST;
        let (_, dest) = one(&run(&mut s, 0, &d));
        assert_eq!(
            matches!(dest, Destination::Raw { .. }),
            want_raw,
            "{policy}"
        );
    }
    let mut s = server("");
    let mut d = dhcp(MessageType::Discover, 0x10);
    d.flags = FLAG_BROADCAST;
    let (offer, dest) = one(&run(&mut s, 0, &d));
    assert_eq!(dest, Destination::Broadcast(68));
    assert_eq!(offer.flags, FLAG_BROADCAST);
}

#[test]
fn bindings_are_keyed_on_client_identifier_when_present() {
    let mut s = server("");
    let mut d1 = dhcp(MessageType::Discover, 1);
    d1.options_mut()
        .push(code::CLIENT_IDENTIFIER, vec![0, b'a']);
    let mut d2 = dhcp(MessageType::Discover, 1);
    d2.options_mut()
        .push(code::CLIENT_IDENTIFIER, vec![0, b'b']);
    let (o1, _) = one(&run(&mut s, 0, &d1));
    let (o2, _) = one(&run(&mut s, 0, &d2));
    assert_ne!(o1.yiaddr, o2.yiaddr);
    assert_eq!(
        opts(&o1).client_identifier(),
        Some(vec![0, b'a']),
        "RFC 6842 echo"
    );
}

#[test]
fn generic_names_resolve_in_the_home_directory() {
    assert_eq!(
        resolve_boot_file("unix", Some("/tftpboot/")),
        "/tftpboot/unix"
    );
    assert_eq!(resolve_boot_file("/vmunix", Some("/tftpboot")), "/vmunix");
    assert_eq!(resolve_boot_file("unix", None), "unix");
}

/// A DISCOVER as perfdhcp sends it: options, End, no padding (fewer than 300 octets).
fn short_discover() -> Vec<u8> {
    let mut short = dhcp(MessageType::Discover, 1).emit();
    let end = short.iter().rposition(|b| *b == 255).expect("end option");
    short.truncate(end + 1);
    assert!(short.len() < 300);
    short
}

fn handle_bytes(s: &mut Server, bytes: &[u8]) -> Vec<Action> {
    let mut out = Vec::new();
    let source = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
    s.handle(at(0), Incoming { bytes, source }, &mut out);
    out
}

/// RFC 1542 §2.1 by default: a request shorter than 300 octets is discarded, unanswered.
#[test]
fn short_requests_are_dropped_by_default() {
    let mut strict = server("");
    let out = handle_bytes(&mut strict, &short_discover());
    assert_eq!(ignored_reason(&out).as_deref(), Some("short"));
    assert!(sent(&out).is_empty());
}

/// `min-message-size = 236` is the documented opt-in for senders like perfdhcp (262 octets):
/// answered, and our reply itself is still padded to 300 octets.
#[test]
fn min_message_size_opt_in_answers_short_requests() {
    let mut lenient = server("min-message-size = 236");
    let out = handle_bytes(&mut lenient, &short_discover());
    let replies = sent(&out);
    assert_eq!(replies.len(), 1);
    assert!(replies[0].0.emit().len() >= 300);
}

#[test]
fn min_message_size_outside_236_to_300_is_a_config_error() {
    for bad in ["235", "301"] {
        let text = format!("interface = \"eth0\"\nmin-message-size = {bad}\n");
        let e = Config::parse(&text, Path::new("s.toml")).expect_err("out of range");
        assert!(e.to_string().contains("s.toml:2:"), "{e}");
    }
}

#[test]
fn static_bindings_apply_only_on_their_subnet_and_get_the_link_mask() {
    // Relayed from 198.51.100.0/24: the 192.0.2.10 binding does not apply, a pool address does.
    let mut s = server("");
    let mut d = dhcp(MessageType::Discover, 0x10);
    d.giaddr = a("198.51.100.1");
    let (offer, _) = one(&run(&mut s, 0, &d));
    assert!(Cidr {
        addr: a("198.51.100.0"),
        prefix: 24
    }
    .contains(offer.yiaddr));
    // INIT-REBOOT for the static address from the wrong subnet: NAK.
    let mut r = dhcp(MessageType::Request, 0x10);
    r.giaddr = a("198.51.100.1");
    r.options_mut()
        .set_ip(code::REQUESTED_IP_ADDRESS, a("192.0.2.10"));
    let (nak, _) = one(&run(&mut s, 1, &r));
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    // Without any [[subnet]] the mask comes from the server's own interface prefix.
    let mut s = server_from(
        "interface = \"eth0\"\n[[host]]\nhardware = \"02:00:00:00:00:10\"\naddress = \"192.0.2.10\"\n",
    );
    let (reply, _) = one(&run(&mut s, 0, &bootp(0x10)));
    assert_eq!(opts(&reply).ip(code::SUBNET_MASK), Some(a("255.255.255.0")));
}

proptest::proptest! {
    /// Whatever arrives, the core neither panics nor stops serving (issue 5: bad packets).
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..700), keep in 0usize..600) {
        let mut s = server("");
        let mut out = Vec::new();
        let src = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
        s.handle(at(0), Incoming { bytes: &bytes, source: src }, &mut out);
        // A valid header followed by garbage options.
        let mut m = dhcp(MessageType::Discover, 1).emit();
        m.truncate(240.min(m.len()));
        m.extend_from_slice(&bytes[..keep.min(bytes.len())]);
        s.handle(at(0), Incoming { bytes: &m, source: src }, &mut out);
        proptest::prop_assert_eq!(sent(&run(&mut s, 1, &dhcp(MessageType::Discover, 2))).len(), 1);
    }
}

// ----- issue 18: starvation and floods -----

fn stranger(i: u16) -> Message {
    let b = i.to_be_bytes();
    Message::new_dhcp(
        MessageType::Discover,
        0x5000_0000 + u32::from(i),
        [2, 0xee, 0, 0, b[0], b[1]],
    )
}

/// A burst of DISCOVERs from 300 new client ids (never REQUESTing) must not keep new clients
/// out: reserved addresses are offered again and the first REQUEST wins; static bindings are
/// served throughout.
#[test]
fn a_discover_burst_from_new_client_ids_starves_nobody() {
    let mut s = server("");
    let mut offers = 0;
    for i in 0..300 {
        offers += sent(&run(&mut s, 1000, &stranger(i))).len();
    }
    // The burst got the pool's three reservations and nothing more: no flood of OFFERs to
    // hardware addresses nobody has seen (switches flood those to every port).
    assert_eq!(offers, 3);
    assert_eq!(s.counters.offers_overbooked, 0);
    // Three new clients (the pool has three addresses), while the burst's offers are still
    // held: each is answered when it retransmits its DISCOVER.
    let mut got = Vec::new();
    for n in 1..=3 {
        assert!(sent(&run(&mut s, 1001, &dhcp(MessageType::Discover, n))).is_empty());
        got.push(dora(&mut s, 1001, n));
    }
    assert_eq!(s.counters.offers_overbooked, 3);
    got.sort();
    assert_eq!(got, [a("192.0.2.100"), a("192.0.2.101"), a("192.0.2.102")]);
    // The static binding too.
    let (offer, _) = one(&run(&mut s, 1001, &dhcp(MessageType::Discover, 0x10)));
    assert_eq!(offer.yiaddr, a("192.0.2.10"));
}

/// Static bindings are always served (issue 18): an address of a static binding inside the
/// pool is never allocated to another client, also with the pool exhausted by a burst and a
/// stranger asking again (overbooking), while its host has an OFFER pending.
#[test]
fn a_static_binding_inside_the_pool_is_never_given_to_another_client() {
    let mut s = server_from(&format!(
        "{BASE}\n[[host]]\nhardware = \"02:00:00:00:00:11\"\naddress = \"192.0.2.101\"\n"
    ));
    // The static host is offered its address and has not REQUESTed it yet.
    let (offer, _) = one(&run(&mut s, 1000, &dhcp(MessageType::Discover, 0x11)));
    assert_eq!(offer.yiaddr, a("192.0.2.101"));
    // The rest of the pool is bound.
    let mut bound = vec![dora(&mut s, 1000, 1), dora(&mut s, 1000, 2)];
    bound.sort();
    assert_eq!(bound, [a("192.0.2.100"), a("192.0.2.102")]);
    // A new client asks twice (a retransmission is what earns an overbooked offer).
    for _ in 0..2 {
        for (m, _) in sent(&run(&mut s, 1001, &dhcp(MessageType::Discover, 3))) {
            assert_ne!(
                m.yiaddr,
                a("192.0.2.101"),
                "a static binding offered to a stranger"
            );
        }
    }
    // The static host still gets its own address.
    let mut req = dhcp(MessageType::Request, 0x11);
    req.options_mut()
        .set_ip(code::REQUESTED_IP_ADDRESS, a("192.0.2.101"));
    req.options_mut()
        .set_ip(code::SERVER_IDENTIFIER, s.server_id());
    let (ack, _) = one(&run(&mut s, 1001, &req));
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr, a("192.0.2.101"));
}

/// Once every address is bound (nothing left to reclaim), the exhaustion is an event.
#[test]
fn an_exhausted_pool_is_reported_as_an_event() {
    let mut s = server("");
    for n in 1..=3 {
        dora(&mut s, 1000, n);
    }
    let out = run(&mut s, 1000, &dhcp(MessageType::Discover, 4));
    assert!(sent(&out).is_empty());
    let ev = events(&out);
    let (_, f) = ev
        .iter()
        .find(|(n, _)| *n == "pool-exhausted")
        .expect("a pool-exhausted event");
    assert_eq!(f["bound"], 3);
    assert_eq!(s.counters.pool_exhausted, 1);
}

/// One machine cycling client identifiers holds one offer reservation.
#[test]
fn one_hardware_address_holds_one_reservation_whatever_its_client_ids() {
    let mut s = server("");
    for i in 0..50u8 {
        let mut m = dhcp(MessageType::Discover, 7);
        m.options_mut()
            .push(code::CLIENT_IDENTIFIER, vec![0, b'x', i]);
        run(&mut s, 1000, &m);
    }
    assert_eq!(s.table().len(), 1, "{:?}", s.table());
    // So the other two addresses are still there for others, without reclaiming.
    dora(&mut s, 1000, 1);
    dora(&mut s, 1000, 2);
    assert_eq!(s.counters.offers_overbooked, 0);
}

/// Dynamic BOOTP bindings expire by default (the segment's lease time); infinite on request.
#[test]
fn dynamic_bootp_leases_are_finite_by_default() {
    let mut s = server("bootp-dynamic = true");
    let out = run(&mut s, 1000, &bootp(5));
    let r = journal(&out);
    assert!(
        matches!(r.as_slice(), [Record::Bind { expires: Some(e), .. }] if *e == 1600),
        "{r:?}"
    );
    let mut s = server("bootp-dynamic = true\nbootp-lease-time = 4294967295");
    let r = journal(&run(&mut s, 1000, &bootp(5)));
    assert!(
        matches!(r.as_slice(), [Record::Bind { expires: None, .. }]),
        "{r:?}"
    );
}

/// Dynamic BOOTP is off unless configured (as in ISC dhcpd, dnsmasq and Kea): a burst of BOOTP
/// requests from new hardware addresses binds nothing, so DHCP clients still find the pool.
#[test]
fn a_burst_of_bootp_requests_binds_nothing_by_default() {
    let mut s = server("");
    // 02:00:00:00:00:10 (16) has a static binding, which is always served.
    for n in (17..80u8).chain(1..16) {
        let out = run(&mut s, 1000, &bootp(n));
        assert!(sent(&out).is_empty(), "BOOTP request {n} was answered");
        assert!(
            journal(&out).is_empty(),
            "BOOTP request {n} bound an address"
        );
    }
    assert_eq!(s.table().len(), 0, "{:?}", s.table());
    dora(&mut s, 1000, 1);
}

/// A flood of undecodable datagrams is counted in full but logged and reported at a bounded
/// rate (one line per hostile packet would let anyone fill the disk).
#[test]
fn a_flood_of_malformed_datagrams_is_counted_but_reported_at_a_bounded_rate() {
    let mut s = server("");
    let mut reported = 0;
    for i in 0..10_000u32 {
        let mut out = Vec::new();
        s.handle(
            at(1000),
            Incoming {
                bytes: &i.to_be_bytes(),
                source: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 66), 68),
            },
            &mut out,
        );
        reported += events(&out).len();
    }
    assert_eq!(s.counters.dropped_malformed, 10_000);
    assert!(reported <= 10, "{reported} events for one second of flood");
    // The next second reports again, with what was held back.
    let mut out = Vec::new();
    s.handle(
        at(1001),
        Incoming {
            bytes: &[0],
            source: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 66), 68),
        },
        &mut out,
    );
    let ev = events(&out);
    assert_eq!(ev.len(), 1);
}
