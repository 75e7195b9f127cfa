//! `bootlab decode --json` agrees with Wireshark's dissectors (`tshark -T json`) on every field
//! both decode, for well-formed and malformed frames generated here: DHCP with PXE options,
//! relay agent information, overload, RFC 3396 splits, bad lengths, missing end, short
//! messages, bad cookies; plain BOOTP; bad and absent checksums; ARP requests, replies, probes,
//! announcements, RARP; a TFTP transfer with options followed onto ephemeral ports.
//!
//! tshark is required (CI installs it): without it this test fails with a message saying so.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bootlab_wire::arp;
use bootlab_wire::bootp::{
    code, emit_relay_agent_information, Faults, Message, MessageType, Options, SubOption, Vendor,
};
use bootlab_wire::ethernet::Address;
use bootlab_wire::frame::{build_arp, FrameFaults, UdpEndpoints};
use bootlab_wire::tftp;
use pcap_file::pcap::{PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;
use serde_json::Value;

const ROM: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];
const SRV: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const RELAY: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const SRV_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const ROM_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const RELAY_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// One generated frame and the deviation texts our decoder must report for it.
struct Case {
    name: &'static str,
    frame: Vec<u8>,
    expect: Vec<&'static str>,
}

fn case(name: &'static str, frame: Vec<u8>, expect: &[&'static str]) -> Case {
    Case {
        name,
        frame,
        expect: expect.to_vec(),
    }
}

fn client_bcast() -> UdpEndpoints {
    UdpEndpoints {
        src_mac: ROM.into(),
        dst_mac: Address::BROADCAST,
        src_ip: Ipv4Addr::UNSPECIFIED,
        dst_ip: Ipv4Addr::BROADCAST,
        src_port: 68,
        dst_port: 67,
    }
}

fn server_unicast() -> UdpEndpoints {
    UdpEndpoints {
        src_mac: SRV.into(),
        dst_mac: ROM.into(),
        src_ip: SRV_IP,
        dst_ip: ROM_IP,
        src_port: 67,
        dst_port: 68,
    }
}

fn pxe_discover() -> Message {
    let mut m = Message::new_dhcp(MessageType::Discover, 0x1234_5678, ROM);
    m.flags = 0x8000;
    m.secs = 4;
    let o = m.options_mut();
    o.set_u16(code::MAXIMUM_DHCP_MESSAGE_SIZE, 1464);
    o.push(
        code::PARAMETER_REQUEST_LIST,
        vec![1, 3, 6, 43, 60, 66, 67, 128, 129, 130],
    );
    let mut cid = vec![1];
    cid.extend_from_slice(&ROM);
    o.push(code::CLIENT_IDENTIFIER, cid);
    o.push(code::CLIENT_SYSTEM_ARCHITECTURE, vec![0, 0]);
    o.push(code::CLIENT_NETWORK_INTERFACE_ID, vec![1, 2, 1]);
    let mut guid = vec![0];
    guid.extend_from_slice(&[0x5a; 16]);
    o.push(code::CLIENT_MACHINE_ID, guid);
    o.push(
        code::VENDOR_CLASS_IDENTIFIER,
        b"PXEClient:Arch:00000:UNDI:002001".to_vec(),
    );
    m
}

fn offer() -> Message {
    let req = pxe_discover();
    let mut m = Message::new_reply(&req);
    m.yiaddr = ROM_IP;
    m.siaddr = SRV_IP;
    m.set_sname("bootsrv");
    m.set_file("boot/rom.img");
    let o = m.options_mut();
    o.set_message_type(MessageType::Offer);
    o.set_ip(code::SERVER_IDENTIFIER, SRV_IP);
    o.set_u32(code::IP_ADDRESS_LEASE_TIME, 3600);
    o.set_u32(code::RENEWAL_TIME_VALUE, 1800);
    o.set_u32(code::REBINDING_TIME_VALUE, 3150);
    o.set_ip(code::SUBNET_MASK, Ipv4Addr::new(255, 255, 255, 0));
    o.push(code::ROUTER, SRV_IP.octets().to_vec());
    o.push(
        code::DOMAIN_NAME_SERVER,
        [192, 0, 2, 53, 192, 0, 2, 54].to_vec(),
    );
    o.push(code::HOST_NAME, b"rom1".to_vec());
    o.push(code::DOMAIN_NAME, b"lab.example".to_vec());
    m
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let bc = client_bcast();
    let uc = server_unicast();

    // --- DHCP, well formed.
    v.push(case("pxe discover", bc.build(&pxe_discover().emit()), &[]));
    v.push(case("offer", uc.build(&offer().emit()), &[]));
    let mut relayed = pxe_discover();
    relayed.hops = 1;
    relayed.giaddr = RELAY_IP;
    relayed.options_mut().push(
        code::RELAY_AGENT_INFORMATION,
        emit_relay_agent_information(&[
            SubOption {
                code: 1,
                data: b"eth0:vlan7".to_vec(),
            },
            SubOption {
                code: 2,
                data: RELAY.to_vec(),
            },
        ]),
    );
    let relay_to_server = UdpEndpoints {
        src_mac: RELAY.into(),
        dst_mac: SRV.into(),
        src_ip: RELAY_IP,
        dst_ip: SRV_IP,
        src_port: 67,
        dst_port: 67,
    };
    v.push(case(
        "relayed discover with option 82",
        relay_to_server.build(&relayed.emit()),
        &[],
    ));
    let mut ovl = offer();
    ovl.options_mut().set_message_type(MessageType::Ack);
    ovl.options_mut().remove(code::HOST_NAME);
    ovl.options_mut().remove(code::DOMAIN_NAME);
    ovl.options_mut().push(code::OPTION_OVERLOAD, vec![3]);
    ovl.file = [0; 128];
    ovl.file[..7].copy_from_slice(&[12, 4, b'r', b'o', b'm', b'1', 255]);
    ovl.sname = [0; 64];
    ovl.sname[..14].copy_from_slice(&[
        15, 11, b'l', b'a', b'b', b'.', b'e', b'x', b'a', b'm', b'p', b'l', b'e', 255,
    ]);
    let (ovl, _) = Message::parse(&ovl.emit()).expect("overload message parses");
    v.push(case(
        "ack with overload into file and sname",
        uc.build(&ovl.emit()),
        &[],
    ));
    let mut split = offer();
    split.options_mut().set_message_type(MessageType::Ack);
    split
        .options_mut()
        .push(code::VENDOR_SPECIFIC_INFORMATION, vec![0x42; 600]);
    split
        .options_mut()
        .push(code::ROUTER, Ipv4Addr::new(192, 0, 2, 2).octets().to_vec());
    v.push(case(
        "ack with RFC 3396 split options",
        uc.build(&split.emit()),
        &[
            "option 43: split over 3 instances",
            "option 3: split over 2 instances",
        ],
    ));
    let mut unknown = pxe_discover();
    unknown.options_mut().push(200, vec![9, 8, 7]);
    unknown.options_mut().push(201, vec![]);
    v.push(case("unknown options kept", bc.build(&unknown.emit()), &[]));

    // --- Plain BOOTP.
    let mut bootp_req = Message::new_request(0xb007, ROM);
    bootp_req.vend = Vendor::Raw(vec![0; 64]);
    v.push(case(
        "bootp request without cookie",
        bc.build(&bootp_req.emit()),
        &["no magic cookie"],
    ));
    let mut bootp_req2 = Message::new_request(0xb008, ROM);
    bootp_req2.vend = Vendor::Options(Options::default());
    v.push(case(
        "bootp request with cookie",
        bc.build(&bootp_req2.emit()),
        &[],
    ));
    let mut bootp_reply = Message::new_reply(&bootp_req2);
    bootp_reply.yiaddr = ROM_IP;
    bootp_reply.siaddr = SRV_IP;
    bootp_reply.set_file("/tftpboot/rom.img");
    bootp_reply
        .options_mut()
        .set_ip(code::SUBNET_MASK, Ipv4Addr::new(255, 255, 255, 0));
    v.push(case("bootp reply", uc.build(&bootp_reply.emit()), &[]));

    // --- DHCP, malformed.
    let mut bad53 = pxe_discover();
    bad53.options_mut().set(code::DHCP_MESSAGE_TYPE, vec![1, 0]);
    v.push(case(
        "option 53 length 2",
        bc.build(&bad53.emit()),
        &["option 53: length 2, expected 1"],
    ));
    let no_end = Faults {
        omit_end: true,
        no_padding: true,
        ..Faults::default()
    };
    let mut big = pxe_discover();
    big.options_mut().push(code::HOST_NAME, vec![b'x'; 40]);
    v.push(case(
        "missing end option",
        bc.build(&big.emit_with(&no_end)),
        &["options: no end option"],
    ));
    let lie = Faults {
        lengths: vec![(code::VENDOR_CLASS_IDENTIFIER, 200)],
        ..Faults::default()
    };
    v.push(case(
        "option length runs past the end",
        bc.build(&pxe_discover().emit_with(&lie)),
        &["option 60: length 200 runs past the end of options"],
    ));
    let short = Faults {
        truncate: Some(299),
        ..Faults::default()
    };
    v.push(case(
        "message shorter than 300 bytes",
        bc.build(&Message::new_dhcp(MessageType::Discover, 7, ROM).emit_with(&short)),
        &["message shorter than 300 bytes"],
    ));
    let cookie = Faults {
        cookie: Some([99, 130, 83, 98]),
        ..Faults::default()
    };
    v.push(case(
        "bad cookie",
        bc.build(&pxe_discover().emit_with(&cookie)),
        &["no magic cookie"],
    ));
    let mut bad82 = pxe_discover();
    bad82
        .options_mut()
        .push(code::RELAY_AGENT_INFORMATION, vec![1, 9, b'x']);
    v.push(case(
        "option 82 sub-option overrun",
        bc.build(&bad82.emit()),
        &["sub-option 1: length 9 runs past"],
    ));
    let mut bad_pxe = pxe_discover();
    bad_pxe
        .options_mut()
        .set(code::CLIENT_SYSTEM_ARCHITECTURE, vec![0, 0, 7]);
    bad_pxe
        .options_mut()
        .set(code::CLIENT_NETWORK_INTERFACE_ID, vec![2, 3]);
    v.push(case(
        "bad PXE option shapes",
        bc.build(&bad_pxe.emit()),
        &[
            "option 93: length 3",
            "option 94: length 2, expected 3",
            "interface type 2",
        ],
    ));
    let mut flags = pxe_discover();
    flags.flags = 0x8001;
    v.push(case(
        "reserved flags",
        bc.build(&flags.emit()),
        &["reserved flag bits 0x0001"],
    ));

    // --- Checksums.
    let ack = {
        let mut m = offer();
        m.options_mut().set_message_type(MessageType::Ack);
        m.emit()
    };
    v.push(case(
        "bad udp checksum",
        uc.build_with(
            &ack,
            &FrameFaults {
                udp_checksum: Some(0x1234),
                ..FrameFaults::default()
            },
        ),
        &["udp.checksum: checksum 0x1234"],
    ));
    v.push(case(
        "bad ip checksum",
        uc.build_with(
            &ack,
            &FrameFaults {
                ip_checksum: Some(0xbeef),
                ..FrameFaults::default()
            },
        ),
        &["ip.checksum: header checksum 0xbeef"],
    ));
    v.push(case(
        "absent udp checksum",
        uc.build_with(
            &ack,
            &FrameFaults {
                udp_checksum: Some(0),
                ttl: Some(1),
                ..FrameFaults::default()
            },
        ),
        &[],
    ));

    // --- ARP and RARP.
    let bcast = Address::BROADCAST;
    v.push(case(
        "arp request",
        build_arp(SRV, bcast, &arp::Repr::request(SRV, SRV_IP, ROM_IP)),
        &[],
    ));
    v.push(case(
        "arp reply",
        build_arp(ROM, SRV, &arp::Repr::reply(ROM, ROM_IP, SRV, SRV_IP)),
        &[],
    ));
    v.push(case(
        "arp probe",
        build_arp(ROM, bcast, &arp::Repr::probe(ROM, ROM_IP)),
        &[],
    ));
    v.push(case(
        "arp announcement",
        build_arp(ROM, bcast, &arp::Repr::announcement(ROM, ROM_IP)),
        &[],
    ));
    v.push(case(
        "rarp request",
        build_arp(ROM, bcast, &arp::Repr::rarp_request(ROM)),
        &[],
    ));
    v.push(case(
        "rarp reply",
        build_arp(SRV, ROM, &arp::Repr::rarp_reply(SRV, SRV_IP, ROM, ROM_IP)),
        &[],
    ));

    // --- TFTP, one conversation moving to ephemeral ports.
    let rom_tftp = UdpEndpoints {
        src_mac: ROM.into(),
        dst_mac: SRV.into(),
        src_ip: ROM_IP,
        dst_ip: SRV_IP,
        src_port: 2070,
        dst_port: 69,
    };
    let mut srv_tftp = rom_tftp.reversed();
    srv_tftp.src_port = 40000;
    let mut rom_ack = rom_tftp;
    rom_ack.dst_port = 40000;
    let rrq = tftp::Packet::Rrq(tftp::Request {
        filename: "boot/rom.img".into(),
        mode: tftp::Mode::Octet,
        options: vec![
            tftp::TftpOption::new("blksize", 1428),
            tftp::TftpOption::new("tsize", 0),
        ],
    });
    v.push(case(
        "tftp rrq with options",
        rom_tftp.build(&rrq.emit()),
        &[],
    ));
    let oack = tftp::Packet::Oack {
        options: vec![
            tftp::TftpOption::new("blksize", 1428),
            tftp::TftpOption::new("tsize", 2000),
        ],
    };
    v.push(case("tftp oack", srv_tftp.build(&oack.emit()), &[]));
    v.push(case(
        "tftp ack 0",
        rom_ack.build(&tftp::Packet::Ack { block: 0 }.emit()),
        &[],
    ));
    v.push(case(
        "tftp data 1",
        srv_tftp.build(&tftp::Packet::emit_data(1, &[0x11; 1428])),
        &[],
    ));
    v.push(case(
        "tftp ack 1",
        rom_ack.build(&tftp::Packet::Ack { block: 1 }.emit()),
        &[],
    ));
    v.push(case(
        "tftp data 2",
        srv_tftp.build(&tftp::Packet::emit_data(2, &[0x22; 572])),
        &[],
    ));
    v.push(case(
        "tftp ack 2",
        rom_ack.build(&tftp::Packet::Ack { block: 2 }.emit()),
        &[],
    ));
    let mut rom_wrq = rom_tftp;
    rom_wrq.src_port = 2071;
    let wrq = tftp::Packet::Wrq(tftp::Request {
        filename: "upload.bin".into(),
        mode: tftp::Mode::Netascii,
        options: vec![],
    });
    v.push(case("tftp wrq", rom_wrq.build(&wrq.emit()), &[]));
    let mut srv_err = rom_wrq.reversed();
    srv_err.src_port = 40001;
    v.push(case(
        "tftp error",
        srv_err.build(&tftp::Packet::error(tftp::ErrorCode::AccessViolation, "no writes").emit()),
        &[],
    ));
    v
}

fn write_pcap(path: &Path, cases: &[Case]) {
    let mut w = PcapWriter::new(Vec::new()).expect("pcap writer");
    for (i, c) in cases.iter().enumerate() {
        let ts = Duration::from_secs(1_800_000_000) + Duration::from_millis(i as u64 * 10);
        w.write_packet(&PcapPacket::new(ts, c.frame.len() as u32, &c.frame))
            .expect("write packet");
    }
    std::fs::write(path, w.into_writer()).expect("write pcap");
}

fn write_pcapng(path: &Path, cases: &[Case]) {
    let mut w = PcapNgWriter::new(Vec::new()).expect("pcapng writer");
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        // pcap-file 2.0 writes timestamps as nanoseconds: say so.
        options: vec![InterfaceDescriptionOption::IfTsResol(9)],
    })
    .expect("idb");
    for (i, c) in cases.iter().enumerate() {
        let ts = Duration::from_secs(1_800_000_000) + Duration::from_millis(i as u64 * 10);
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: ts,
            original_len: c.frame.len() as u32,
            data: std::borrow::Cow::Borrowed(&c.frame),
            options: vec![],
        })
        .expect("epb");
    }
    std::fs::write(path, w.into_inner()).expect("write pcapng");
}

fn tmp_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "bootlab-decode-tshark-{}-{test}",
        std::process::id()
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn bootlab_json(path: &Path) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_bootlab"))
        .arg("decode")
        .arg(path)
        .arg("--json")
        .output()
        .expect("run bootlab decode");
    assert!(
        out.status.success(),
        "bootlab decode failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).expect("bootlab JSON") {
        Value::Array(a) => a,
        other => panic!("bootlab decode --json printed no array: {other}"),
    }
}

fn tshark_json(path: &Path) -> Vec<Value> {
    let out = match Command::new("tshark")
        .args(["-n", "-T", "json", "--no-duplicate-keys"])
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
        ])
        .arg("-r")
        .arg(path)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!(
            "tshark is required for this test and could not be run ({e}); install it with \
             `apt-get install tshark` (.ci/run does)"
        ),
    };
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).expect("tshark JSON") {
        Value::Array(a) => a
            .into_iter()
            .map(|f| f["_source"]["layers"].clone())
            .collect(),
        other => panic!("tshark printed no array: {other}"),
    }
}

/// A tshark value as text (tshark writes every value as a string).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// tshark writes a repeated key as an array and a single one as a value.
fn list(v: Option<&Value>) -> Vec<Value> {
    match v {
        None => vec![],
        Some(Value::Array(a)) => a.clone(),
        Some(x) => vec![x.clone()],
    }
}

fn hex(s: &str) -> String {
    s.replace(':', "")
}

/// Collects field comparisons for one frame.
struct Cmp<'a> {
    frame: usize,
    name: &'a str,
    compared: usize,
    mismatches: Vec<String>,
}

impl Cmp<'_> {
    fn eq(&mut self, field: &str, ours: impl Into<String>, theirs: Option<&Value>) {
        let ours = ours.into();
        self.compared += 1;
        match theirs {
            Some(t) if text(t) == ours => {}
            Some(t) => self.mismatches.push(format!(
                "frame {} ({}): {field}: bootlab {ours:?}, tshark {:?}",
                self.frame,
                self.name,
                text(t)
            )),
            None => self.mismatches.push(format!(
                "frame {} ({}): {field}: bootlab {ours:?}, tshark has no such field",
                self.frame, self.name
            )),
        }
    }

    fn fail(&mut self, what: String) {
        self.mismatches
            .push(format!("frame {} ({}): {what}", self.frame, self.name));
    }
}

fn u(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => u8::from(*b).to_string(),
        other => text(other),
    }
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(u64::MAX)
}

fn status(s: &Value) -> &'static str {
    // Wireshark's checksum status: 0 bad, 1 good, 2 unverified, 3 not present.
    match s.as_str() {
        Some("good") => "1",
        Some("bad") => "0",
        Some("unverified") => "2",
        _ => "3",
    }
}

fn compare_frame(c: &mut Cmp<'_>, ours: &Value, ts: &Value, devs: &[String]) {
    c.eq(
        "frame.number",
        u(&ours["number"]),
        ts["frame"].get("frame.number"),
    );
    for (ours_f, theirs_f) in [
        ("time", "frame.time_relative"),
        ("epoch", "frame.time_epoch"),
    ] {
        c.compared += 1;
        let t: f64 = ts["frame"]
            .get(theirs_f)
            .map(text)
            .and_then(|x| x.parse().ok())
            .unwrap_or(f64::NAN);
        let o = ours[ours_f].as_f64().unwrap_or(f64::NAN);
        if (t - o).abs() > 1e-6 {
            c.fail(format!("{theirs_f}: bootlab {o}, tshark {t}"));
        }
    }
    c.eq(
        "frame.len",
        u(&ours["orig_len"]),
        ts["frame"].get("frame.len"),
    );
    let eth = &ours["eth"];
    c.eq("eth.src", text(&eth["src_addr"]), ts["eth"].get("eth.src"));
    c.eq("eth.dst", text(&eth["dst_addr"]), ts["eth"].get("eth.dst"));
    c.eq(
        "eth.type",
        format!("0x{:04x}", num(&eth["ethertype"])),
        ts["eth"].get("eth.type"),
    );
    if !ours["arp"].is_null() {
        compare_arp(c, &ours["arp"], &ts["arp"]);
    }
    let ip = &ours["ipv4"];
    if !ip.is_null() {
        let t = &ts["ip"];
        c.eq("ip.version", u(&ip["version"]), t.get("ip.version"));
        c.eq("ip.hdr_len", u(&ip["header_len"]), t.get("ip.hdr_len"));
        c.eq(
            "ip.dsfield",
            format!("0x{:02x}", num(&ip["tos"])),
            t.get("ip.dsfield"),
        );
        c.eq("ip.len", u(&ip["total_len"]), t.get("ip.len"));
        c.eq(
            "ip.id",
            format!("0x{:04x}", num(&ip["ident"])),
            t.get("ip.id"),
        );
        let flags = num(&ip["flags"]);
        c.eq(
            "ip.flags.df",
            ((flags >> 1) & 1).to_string(),
            t["ip.flags_tree"].get("ip.flags.df"),
        );
        c.eq(
            "ip.flags.mf",
            (flags & 1).to_string(),
            t["ip.flags_tree"].get("ip.flags.mf"),
        );
        c.eq(
            "ip.frag_offset",
            u(&ip["frag_offset"]),
            t.get("ip.frag_offset"),
        );
        c.eq("ip.ttl", u(&ip["ttl"]), t.get("ip.ttl"));
        c.eq("ip.proto", u(&ip["protocol"]), t.get("ip.proto"));
        c.eq(
            "ip.checksum",
            format!("0x{:04x}", num(&ip["checksum"])),
            t.get("ip.checksum"),
        );
        c.eq(
            "ip.checksum.status",
            status(&ip["checksum_status"]),
            t.get("ip.checksum.status"),
        );
        c.eq("ip.src", text(&ip["src"]), t.get("ip.src"));
        c.eq("ip.dst", text(&ip["dst"]), t.get("ip.dst"));
    }
    let udp = &ours["udp"];
    if !udp.is_null() {
        let t = &ts["udp"];
        c.eq("udp.srcport", u(&udp["src_port"]), t.get("udp.srcport"));
        c.eq("udp.dstport", u(&udp["dst_port"]), t.get("udp.dstport"));
        c.eq("udp.length", u(&udp["length"]), t.get("udp.length"));
        c.eq(
            "udp.checksum",
            format!("0x{:04x}", num(&udp["checksum"])),
            t.get("udp.checksum"),
        );
        let st = t
            .get("udp.checksum.status")
            .or_else(|| t["udp.checksum_tree"].get("udp.checksum.status"));
        c.eq("udp.checksum.status", status(&udp["checksum_status"]), st);
    }
    match ours["app"]["protocol"].as_str() {
        Some("bootp") => match ts.get("dhcp") {
            Some(t) => compare_bootp(c, &ours["app"], t, devs),
            None => c.fail("bootlab decoded BOOTP, tshark has no dhcp layer".into()),
        },
        Some("tftp") => match ts.get("tftp") {
            Some(t) => compare_tftp(c, &ours["app"], t),
            None => c.fail("bootlab decoded TFTP, tshark has no tftp layer".into()),
        },
        _ => {}
    }
}

fn compare_arp(c: &mut Cmp<'_>, a: &Value, t: &Value) {
    c.eq("arp.hw.type", "1", t.get("arp.hw.type"));
    c.eq("arp.proto.type", "0x0800", t.get("arp.proto.type"));
    c.eq("arp.opcode", u(&a["operation"]), t.get("arp.opcode"));
    c.eq(
        "arp.src.hw_mac",
        text(&a["source_hardware_addr"]),
        t.get("arp.src.hw_mac"),
    );
    c.eq(
        "arp.src.proto_ipv4",
        text(&a["source_protocol_addr"]),
        t.get("arp.src.proto_ipv4"),
    );
    c.eq(
        "arp.dst.hw_mac",
        text(&a["target_hardware_addr"]),
        t.get("arp.dst.hw_mac"),
    );
    c.eq(
        "arp.dst.proto_ipv4",
        text(&a["target_protocol_addr"]),
        t.get("arp.dst.proto_ipv4"),
    );
    // Our kind vs Wireshark's flags: a probe has sender address 0.0.0.0 (RFC 5227 §2.1.1).
    let probe = a["operation"] == 1 && a["source_protocol_addr"] == "0.0.0.0";
    c.compared += 1;
    if probe != t.get("arp.isprobe").is_some() {
        c.fail(format!(
            "arp probe: bootlab {probe}, tshark {:?}",
            t.get("arp.isprobe")
        ));
    }
}

fn compare_bootp(c: &mut Cmp<'_>, m: &Value, t: &Value, devs: &[String]) {
    c.eq("dhcp.type", u(&m["op"]), t.get("dhcp.type"));
    c.eq(
        "dhcp.hw.type",
        format!("0x{:02x}", num(&m["htype"])),
        t.get("dhcp.hw.type"),
    );
    c.eq("dhcp.hw.len", u(&m["hlen"]), t.get("dhcp.hw.len"));
    c.eq("dhcp.hops", u(&m["hops"]), t.get("dhcp.hops"));
    c.eq(
        "dhcp.id",
        format!("0x{:08x}", num(&m["xid"])),
        t.get("dhcp.id"),
    );
    c.eq("dhcp.secs", u(&m["secs"]), t.get("dhcp.secs"));
    c.eq(
        "dhcp.flags",
        format!("0x{:04x}", num(&m["flags"])),
        t.get("dhcp.flags"),
    );
    c.eq(
        "dhcp.flags.bc",
        u(&m["broadcast"]),
        t["dhcp.flags_tree"].get("dhcp.flags.bc"),
    );
    c.eq(
        "dhcp.ip.client",
        text(&m["ciaddr"]),
        t.get("dhcp.ip.client"),
    );
    c.eq("dhcp.ip.your", text(&m["yiaddr"]), t.get("dhcp.ip.your"));
    c.eq(
        "dhcp.ip.server",
        text(&m["siaddr"]),
        t.get("dhcp.ip.server"),
    );
    c.eq("dhcp.ip.relay", text(&m["giaddr"]), t.get("dhcp.ip.relay"));
    c.eq(
        "dhcp.hw.mac_addr",
        text(&m["chaddr"]),
        t.get("dhcp.hw.mac_addr"),
    );
    let overload = m["options"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["code"] == 52))
        .map(|o| num(&o["value"]))
        .unwrap_or(0);
    if overload & 2 == 0 {
        c.eq("dhcp.server", text(&m["sname"]), t.get("dhcp.server"));
    }
    if overload & 1 == 0 {
        c.eq("dhcp.file", text(&m["file"]), t.get("dhcp.file"));
    }
    if m["cookie"] == true {
        c.eq("dhcp.cookie", "99.130.83.99", t.get("dhcp.cookie"));
    } else {
        // Both fall back to plain BOOTP: Wireshark shows the 64-byte vendor area raw.
        c.compared += 1;
        if t.get("dhcp.cookie").is_some() {
            c.fail("bootlab found no cookie, tshark did".into());
        }
        let vend = text(&m["vend"]);
        let vend = &vend[..vend.len().min(128)];
        match t.get("dhcp.vendor_specific_options") {
            Some(v) => c.eq(
                "dhcp.vendor_specific_options",
                vend,
                Some(&Value::from(hex(&text(v)))),
            ),
            None => {
                c.compared += 1;
                if vend.chars().any(|ch| ch != '0') {
                    c.fail(format!("vend {vend}: tshark shows no vendor area"));
                }
            }
        }
        return;
    }
    // Wireshark lists the options of every area (options, file, sname) in order; the end and
    // pad octets are listed too, so leave them out.
    // Options overloaded into file/sname sit in option 52's tree; RFC 2131 §4.1 order is
    // file, then sname, which is the order bootlab lists them in.
    fn area(t: &Value) -> Vec<(String, Value)> {
        let types = list(t.get("dhcp.option.type"));
        let trees = list(t.get("dhcp.option.type_tree"));
        types
            .iter()
            .zip(trees.iter().chain(std::iter::repeat(&Value::Null)))
            .map(|(ty, tr)| (text(ty), tr.clone()))
            .filter(|(ty, tr)| tr.get("dhcp.option.end").is_none() && ty != "0" && ty != "255")
            .collect()
    }
    let mut theirs = area(t);
    let nested: Vec<Value> = theirs
        .iter()
        .filter(|(ty, _)| ty == "52")
        .flat_map(|(_, tr)| {
            [
                tr.get("Boot file name option overload").cloned(),
                tr.get("Server host name option overload").cloned(),
            ]
        })
        .flatten()
        .collect();
    for n in nested {
        theirs.extend(area(&n));
    }
    let ours: Vec<&Value> = m["options"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let our_codes: Vec<String> = ours.iter().map(|o| u(&o["code"])).collect();
    let their_codes: Vec<String> = theirs.iter().map(|(ty, _)| ty.clone()).collect();
    c.compared += 1;
    if our_codes != their_codes {
        c.fail(format!(
            "option codes: bootlab {our_codes:?}, tshark {their_codes:?}"
        ));
        return;
    }
    for (o, (ty, tr)) in ours.iter().zip(&theirs) {
        let f = format!("dhcp.option {ty}");
        // An option whose length runs past its area: Wireshark shows the declared length and
        // no value; bootlab keeps the bytes there and names the declared length in a deviation.
        let overrun = format!("option {ty}: length ");
        if let Some(d) = devs
            .iter()
            .find(|d| d.starts_with(&overrun) && d.contains("runs past"))
        {
            let declared = d[overrun.len()..].split(' ').next().unwrap_or_default();
            c.eq(
                &format!("{f} declared length"),
                declared,
                tr.get("dhcp.option.length"),
            );
            continue;
        }
        c.eq(
            &format!("{f} length"),
            u(&o["length"]),
            tr.get("dhcp.option.length"),
        );
        c.compared += 1;
        let tv = tr
            .get("dhcp.option.value")
            .map(|v| hex(&text(v)))
            .unwrap_or_default();
        if tv != text(&o["data"]) {
            c.fail(format!(
                "{f} value: bootlab {}, tshark {tv}",
                text(&o["data"])
            ));
        }
        let v = &o["value"];
        match num(&o["code"]) {
            53 if !v.is_null() => c.eq(&f, u(&v["type"]), tr.get("dhcp.option.dhcp")),
            55 => {
                let items: Vec<String> = list(tr.get("dhcp.option.request_list_item"))
                    .iter()
                    .map(text)
                    .collect();
                let ours: Vec<String> = v
                    .as_array()
                    .map(|a| a.iter().map(u).collect())
                    .unwrap_or_default();
                c.compared += 1;
                if items != ours {
                    c.fail(format!("{f} items: bootlab {ours:?}, tshark {items:?}"));
                }
            }
            57 if !v.is_null() => c.eq(&f, u(v), tr.get("dhcp.option.dhcp_max_message_size")),
            1 if !v.is_null() => c.eq(&f, text(v), tr.get("dhcp.option.subnet_mask")),
            3 if !v.is_null() => c.eq(
                &f,
                list(Some(v)).iter().map(text).collect::<Vec<_>>().join(","),
                Some(&Value::from(
                    list(tr.get("dhcp.option.router"))
                        .iter()
                        .map(text)
                        .collect::<Vec<_>>()
                        .join(","),
                )),
            ),
            6 if !v.is_null() => c.eq(
                &f,
                list(Some(v)).iter().map(text).collect::<Vec<_>>().join(","),
                Some(&Value::from(
                    list(tr.get("dhcp.option.domain_name_server"))
                        .iter()
                        .map(text)
                        .collect::<Vec<_>>()
                        .join(","),
                )),
            ),
            12 => c.eq(&f, text(v), tr.get("dhcp.option.hostname")),
            15 => c.eq(&f, text(v), tr.get("dhcp.option.domain_name")),
            51 if !v.is_null() => c.eq(&f, u(v), tr.get("dhcp.option.ip_address_lease_time")),
            52 if !v.is_null() => c.eq(&f, u(v), tr.get("dhcp.option.option_overload")),
            54 if !v.is_null() => c.eq(&f, text(v), tr.get("dhcp.option.dhcp_server_id")),
            58 if !v.is_null() => c.eq(&f, u(v), tr.get("dhcp.option.renewal_time_value")),
            59 if !v.is_null() => c.eq(&f, u(v), tr.get("dhcp.option.rebinding_time_value")),
            60 if !v.is_null() => c.eq(&f, text(v), tr.get("dhcp.option.vendor_class_id")),
            61 if !v.is_null() => c.eq(&f, text(&m["chaddr"]), tr.get("dhcp.hw.mac_addr")),
            82 => {
                let subs = list(tr.get("dhcp.option.agent_information_option.suboption"));
                let sub_trees = list(tr.get("dhcp.option.agent_information_option.suboption_tree"));
                let ours = v.as_array().cloned().unwrap_or_default();
                c.compared += 1;
                if subs.len() != ours.len() {
                    c.fail(format!(
                        "{f} sub-options: bootlab {}, tshark {}",
                        ours.len(),
                        subs.len()
                    ));
                    return;
                }
                for ((s, st), o) in subs.iter().zip(&sub_trees).zip(&ours) {
                    c.eq(&format!("{f} sub-option"), u(&o["code"]), Some(s));
                    let tv = st
                        .get("dhcp.option.agent_information_option.value")
                        .map(|x| Value::from(hex(&text(x))));
                    let overrun = format!("sub-option {}: length", u(&o["code"]));
                    if devs.iter().any(|d| d.contains(&overrun)) {
                        // Wireshark shows no value for a sub-option running past the option.
                        c.compared += 1;
                        if tv.is_some() {
                            c.fail(format!("{f}: tshark decoded an overrunning sub-option"));
                        }
                        continue;
                    }
                    c.eq(
                        &format!("{f} sub-option value"),
                        text(&o["data"]),
                        tv.as_ref(),
                    );
                }
            }
            93 if !v.is_null() => c.eq(
                &f,
                list(Some(v)).iter().map(u).collect::<Vec<_>>().join(","),
                Some(&Value::from(
                    list(tr.get("dhcp.option.client_system_architecture"))
                        .iter()
                        .map(text)
                        .collect::<Vec<_>>()
                        .join(","),
                )),
            ),
            94 if !v.is_null() => {
                c.eq(
                    &format!("{f} major"),
                    u(&v["major"]),
                    tr.get("dhcp.client_network_id_major"),
                );
                c.eq(
                    &format!("{f} minor"),
                    u(&v["minor"]),
                    tr.get("dhcp.client_network_id_minor"),
                );
            }
            97 if !v.is_null() => {
                let g = text(&v["guid"]);
                let uuid = format!(
                    "{}-{}-{}-{}-{}",
                    &g[0..8],
                    &g[8..12],
                    &g[12..16],
                    &g[16..20],
                    &g[20..32]
                );
                c.eq(&f, uuid, tr.get("dhcp.client_id.uuid"));
            }
            _ => {}
        }
    }
}

fn compare_tftp(c: &mut Cmp<'_>, p: &Value, t: &Value) {
    c.eq("tftp.opcode", u(&p["opcode"]), t.get("tftp.opcode"));
    match p["opcode_name"].as_str() {
        Some("RRQ") => c.eq(
            "tftp.source_file",
            text(&p["filename"]),
            t.get("tftp.source_file"),
        ),
        Some("WRQ") => c.eq(
            "tftp.destination_file",
            text(&p["filename"]),
            t.get("tftp.destination_file"),
        ),
        _ => {}
    }
    if p.get("mode").is_some() {
        c.eq("tftp.type", text(&p["mode"]), t.get("tftp.type"));
    }
    if p.get("block").is_some() {
        c.eq("tftp.block", u(&p["block"]), t.get("tftp.block"));
    }
    if p.get("error_code").is_some() {
        c.eq(
            "tftp.error.code",
            u(&p["error_code"]),
            t.get("tftp.error.code"),
        );
        c.eq(
            "tftp.error.message",
            text(&p["error_message"]),
            t.get("tftp.error.message"),
        );
    }
    if let Some(opts) = p["options"].as_array() {
        // Wireshark keys each option by its text: "Option: blksize = 1428".
        let theirs: Vec<(String, String)> = t
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| k.starts_with("Option: "))
                    .map(|(_, v)| (text(&v["tftp.option.name"]), text(&v["tftp.option.value"])))
                    .collect()
            })
            .unwrap_or_default();
        let mut ours: Vec<(String, String)> = opts
            .iter()
            .map(|o| (text(&o["name"]), text(&o["value"])))
            .collect();
        // serde_json (without preserve_order) sorts tshark's keys, so compare as sets; the
        // order is checked by the wire crate's own round-trip tests.
        ours.sort();
        let mut theirs = theirs;
        theirs.sort();
        c.compared += 1;
        if ours != theirs {
            c.fail(format!("tftp options: bootlab {ours:?}, tshark {theirs:?}"));
        }
    }
}

/// Every field both decode agrees, and every malformed frame yields the deviation it was built
/// to carry.
#[test]
fn bootlab_decode_agrees_with_tshark() {
    let cases = cases();
    let dir = tmp_dir("cases");
    let pcap = dir.join("cases.pcap");
    write_pcap(&pcap, &cases);
    let ours = bootlab_json(&pcap);
    let theirs = tshark_json(&pcap);
    assert_eq!(ours.len(), cases.len(), "bootlab frame count");
    assert_eq!(theirs.len(), cases.len(), "tshark frame count");
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for (i, ((case, o), t)) in cases.iter().zip(&ours).zip(&theirs).enumerate() {
        let mut c = Cmp {
            frame: i + 1,
            name: case.name,
            compared: 0,
            mismatches: Vec::new(),
        };
        let devs: Vec<String> = o["deviations"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|d| format!("{}: {}", text(&d["field"]), text(&d["message"])))
                    .collect()
            })
            .unwrap_or_default();
        compare_frame(&mut c, o, t, &devs);
        for e in &case.expect {
            if !devs.iter().any(|d| d.contains(e)) {
                c.fail(format!("expected deviation {e:?}, got {devs:?}"));
            }
        }
        if case.expect.is_empty() && !devs.is_empty() {
            c.fail(format!("expected no deviation, got {devs:?}"));
        }
        compared += c.compared;
        mismatches.extend(c.mismatches);
    }
    eprintln!(
        "decode_tshark: {} frames, {compared} field comparisons, {} mismatches",
        cases.len(),
        mismatches.len()
    );
    if !mismatches.is_empty() {
        eprintln!("captures kept in {}", dir.display());
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));

    // The same frames in a pcapng file decode identically.
    let pcapng = dir.join("cases.pcapng");
    write_pcapng(&pcapng, &cases);
    let ng = bootlab_json(&pcapng);
    assert_eq!(ng.len(), ours.len(), "pcapng frame count");
    for (i, (a, b)) in ng.iter().zip(&ours).enumerate() {
        assert!(
            a == b,
            "frame {}: pcapng decodes as\n{a}\npcap as\n{b}",
            i + 1
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The text output has one line per frame, numbered, with the deviations under their frame.
#[test]
fn bootlab_decode_prints_one_line_per_frame() {
    let cases = cases();
    let dir = tmp_dir("lines");
    std::fs::create_dir_all(&dir).expect("dir");
    let pcap = dir.join("cases.pcap");
    write_pcap(&pcap, &cases);
    let out = Command::new(env!("CARGO_BIN_EXE_bootlab"))
        .arg("decode")
        .arg(&pcap)
        .output()
        .expect("run bootlab decode");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let frames: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('!'))
        .collect();
    assert_eq!(frames.len(), cases.len(), "{text}");
    assert!(frames[0].starts_with("    1    0.000000 02:00:00:00:00:10 > ff:ff:ff:ff:ff:ff 0.0.0.0:68 > 255.255.255.255:67 DHCPDISCOVER xid=0x12345678"), "{}", frames[0]);
    assert!(
        text.contains("! option 53: length 2, expected 1 (RFC 2132 §9.6)"),
        "{text}"
    );
    assert!(text.contains("TFTP DATA 1 (1428)"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The exchange between real peers: dnsmasq serving DHCP and TFTP, busybox udhcpc and atftp
/// asking, in two private network namespaces joined by a veth pair, captured by dumpcap
/// (pcapng). Runs only inside `unshare -r --net`; addresses from 192.0.2.0/24.
const REAL_PEERS_SCRIPT: &str = r#"
set -u
D=$1
ip link set lo up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null
unshare --net sleep 30 &
CP=$!
i=0
while [ "$(readlink /proc/$CP/ns/net)" = "$(readlink /proc/self/ns/net)" ] && [ $i -lt 100 ]; do
  sleep 0.05; i=$((i+1))
done
C="nsenter --net=/proc/$CP/ns/net"
$C sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null
ip link add srv address 02:00:00:00:00:01 type veth peer name cli address 02:00:00:00:00:10
ip link set cli netns $CP
ethtool -K srv tx off >/dev/null 2>&1
$C ethtool -K cli tx off >/dev/null 2>&1
ip addr add 192.0.2.1/24 dev srv
ip link set srv up
$C ip link set cli up
mkdir -p $D/tftp
head -c 3000 /dev/zero | tr '\0' 'x' > $D/tftp/boot.img
printf '#!/bin/sh\n[ "$1" = bound ] && echo "$ip" > %s/lease\nexit 0\n' "$D" > $D/udhcpc.sh
chmod +x $D/udhcpc.sh
dumpcap -q -i srv -w $D/real.pcapng >$D/dumpcap.log 2>&1 &
TP=$!
dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=srv --bind-interfaces \
  --dhcp-range=192.0.2.10,192.0.2.20,1h --dhcp-boot=boot.img --enable-tftp --tftp-root=$D/tftp \
  --dhcp-leasefile=$D/leases --pid-file=$D/dnsmasq.pid -u root >$D/dnsmasq.log 2>&1 &
DP=$!
sleep 1
$C udhcpc -i cli -B -n -q -f -t 5 -T 1 -s $D/udhcpc.sh >$D/udhcpc.log 2>&1
$C ip addr add "$(cat $D/lease 2>/dev/null || echo 192.0.2.10)/24" dev cli
$C atftp --option "blksize 1024" --option "tsize 0" -g -r boot.img -l $D/got.img 192.0.2.1 >$D/atftp.log 2>&1
sleep 1
kill $DP $TP $CP
wait
"#;

/// Frames from real third-party peers decode without error-severity deviations, follow the
/// DHCP and TFTP exchange, and agree with tshark field by field.
#[test]
fn real_peers_capture_agrees_with_tshark() {
    let tools = [
        "unshare", "nsenter", "ip", "ethtool", "dumpcap", "dnsmasq", "udhcpc", "atftp", "tshark",
    ];
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "this test needs {missing:?} (Debian packages installed by ci/install-debian-packages.sh)"
    );
    let dir = tmp_dir("real");
    std::fs::create_dir_all(&dir).expect("dir");
    let script = dir.join("run.sh");
    std::fs::write(&script, REAL_PEERS_SCRIPT).expect("script");
    let status = Command::new("timeout")
        .args(["60", "unshare", "-r", "--net", "sh"])
        .arg(&script)
        .arg(&dir)
        .status()
        .expect("run unshare");
    let logs = || {
        ["dnsmasq.log", "udhcpc.log", "atftp.log", "dumpcap.log"]
            .iter()
            .map(|f| {
                let t = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                format!("--- {f}\n{t}")
            })
            .collect::<String>()
    };
    assert!(
        status.success(),
        "real-peer exchange failed: {status}\n{}",
        logs()
    );
    let got = std::fs::read(dir.join("got.img")).unwrap_or_default();
    assert_eq!(got.len(), 3000, "atftp did not fetch the file\n{}", logs());

    let capture = dir.join("real.pcapng");
    let ours = bootlab_json(&capture);
    let theirs = tshark_json(&capture);
    assert_eq!(ours.len(), theirs.len(), "frame count");
    let mut compared = 0;
    let mut mismatches = Vec::new();
    let mut seen = Vec::new();
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        let devs: Vec<String> = o["deviations"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|d| format!("{}: {}", text(&d["field"]), text(&d["message"])))
                    .collect()
            })
            .unwrap_or_default();
        let mut c = Cmp {
            frame: i + 1,
            name: "real peers",
            compared: 0,
            mismatches: Vec::new(),
        };
        compare_frame(&mut c, o, t, &devs);
        let errors: Vec<&Value> = o["deviations"]
            .as_array()
            .map(|a| a.iter().filter(|d| d["severity"] == "error").collect())
            .unwrap_or_default();
        if !errors.is_empty() {
            c.fail(format!("error deviations from a real peer: {errors:?}"));
        }
        compared += c.compared;
        mismatches.extend(c.mismatches);
        let app = &o["app"];
        match app["protocol"].as_str() {
            Some("bootp") => seen.push(text(&app["message_type"])),
            Some("tftp") => seen.push(text(&app["opcode_name"])),
            _ => {}
        }
    }
    eprintln!(
        "real peers: {} frames, {compared} field comparisons, {} mismatches; {seen:?}",
        ours.len(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    for want in [
        "DHCPDISCOVER",
        "DHCPOFFER",
        "DHCPREQUEST",
        "DHCPACK",
        "RRQ",
        "OACK",
        "DATA",
        "ACK",
    ] {
        assert!(seen.iter().any(|s| s == want), "no {want} in {seen:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
