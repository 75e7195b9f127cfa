//! bootlab-probe: a scripted endpoint on raw Ethernet. Where the lab's other roles are
//! implementations that behave well, a probe asks the questions no well-behaved peer asks: a
//! REQUEST for an address never offered, `hops` 17, a 299-octet message, an RRQ with blksize 7,
//! a NAK, an OACK with an option never asked for.
//!
//! `bootlab probe --config FILE` runs the script in FILE ([`script::Config`]): `send` steps build
//! a frame from a template ([`script::Send`]) in which every BOOTP/DHCP, TFTP, ARP/RARP and ICMP
//! field and option can be set, deliberately broken ones included; `expect` steps wait, in
//! protocol time, for a frame matching field constraints ([`matcher`]) — or make sure none
//! comes — and capture field values (`offered = "yiaddr"`) that later templates name as
//! `$offered`; `sleep` steps let protocol time pass.
//!
//! Events on stdout (see `bootlab_net::events`): `ready`; per step N `sent-N`, `expect-N-ok`
//! (with the frame and the captures) or `expect-N-failed` (with the frame and the field that
//! differed); at the end `script-done`, or `script-failed` and exit status 1. After its script
//! the probe stays until stopped, holding its UDP ports so the kernel does not answer late
//! replies with ICMP port unreachable.

pub mod matcher;
pub mod script;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bootlab_net::events;
use bootlab_sys::packet::{AsyncPacketSocket, EtherType, PacketSocket};
use bootlab_wire::ethernet::Address;
use bootlab_wire::frame::Decoder;
use serde_json::json;

use script::{Config, Expect, Me, Step, Vars};

/// Command-line arguments of `bootlab probe`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The script (TOML).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
}

/// Runs a probe script; exits with status 1 when a step fails.
pub fn run(args: Args) -> anyhow::Result<()> {
    bootlab_net::log::init();
    let (cfg, _text): (Config, String) = bootlab_net::config::load(&args.config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ok = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut probe = Probe::open(&cfg)?;
        tokio::time::sleep(Duration::from_millis(cfg.settle_ms)).await;
        let ok = tokio::select! {
            r = probe.script(&cfg.steps) => r,
            _ = term.recv() => return Ok::<bool, anyhow::Error>(true),
            _ = int.recv() => return Ok(true),
        };
        if ok {
            tokio::select! {
                _ = probe.linger() => {}
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        Ok(ok)
    })?;
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

/// A running probe: its socket, its decoder, its variables.
struct Probe {
    sock: AsyncPacketSocket,
    me: Me,
    scale: f64,
    vars: Vars,
    decoder: Decoder,
    /// UDP ports held on our address so the kernel stays quiet about replies to them.
    held: HashMap<u16, std::net::UdpSocket>,
    /// Frames received so far (numbers them in reports).
    received: usize,
    buf: Vec<u8>,
}

/// One frame seen by an expectation.
struct Seen {
    number: usize,
    summary: String,
    fields: matcher::Fields,
}

impl Probe {
    fn open(cfg: &Config) -> anyhow::Result<Probe> {
        let mac = match &cfg.mac {
            Some(m) => {
                let hw = script::Value::Text(m.clone())
                    .hw("mac", &Vars::new())
                    .context("mac")?;
                Address::from_bytes(&hw).context("mac: 6 octets expected")?
            }
            None => Address(bootlab_sys::iface::mac(&cfg.interface)?),
        };
        let raw = PacketSocket::bind(&cfg.interface, EtherType::All)?;
        raw.set_ignore_outgoing(true)?;
        let sock = AsyncPacketSocket::new(raw)?;
        let mut vars = Vars::new();
        for (k, v) in &cfg.vars {
            vars.insert(k.clone(), v.text(k, &Vars::new())?);
        }
        vars.insert("mac".into(), mac.to_string());
        let address = cfg.address.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let mut held = HashMap::new();
        for &port in &cfg.hold {
            let u = std::net::UdpSocket::bind((address, port))
                .with_context(|| format!("hold: UDP port {port} on {address}"))?;
            u.set_nonblocking(true)?;
            held.insert(port, u);
        }
        // Ready only once the ports are held: roles started after `ready` (a client of the
        // probe playing a server) must not meet a port the kernel answers with ICMP.
        events::emit(
            "ready",
            json!({ "interface": cfg.interface, "mac": mac.to_string(), "address": address.to_string() }),
        );
        Ok(Probe {
            sock,
            me: Me { mac, address },
            scale: if cfg.time_scale > 0.0 {
                cfg.time_scale
            } else {
                1.0
            },
            vars,
            decoder: Decoder::default(),
            held,
            received: 0,
            buf: vec![0u8; 65_600],
        })
    }

    fn real(&self, protocol: &str, field: &str) -> anyhow::Result<Duration> {
        let d = parse_duration(protocol)
            .with_context(|| format!("{field}: {protocol:?} is not a duration like 2s or 500ms"))?;
        Ok(d.div_f64(self.scale))
    }

    /// Runs the steps in order; `false` at the first failure.
    async fn script(&mut self, steps: &[Step]) -> bool {
        for (i, step) in steps.iter().enumerate() {
            let n = i + 1;
            let r = match (&step.send, &step.expect, &step.sleep) {
                (Some(s), None, None) => self.send(n, s).await,
                (None, Some(e), None) => self.expect(n, e).await,
                (None, None, Some(d)) => match self.real(d, "sleep") {
                    Ok(d) => {
                        tokio::time::sleep(d).await;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                _ => Err(anyhow::anyhow!(
                    "step {n}: exactly one of send, expect, sleep"
                )),
            };
            if let Err(e) = r {
                tracing::error!("step {n}: {e:#}");
                events::emit(
                    "script-failed",
                    json!({ "step": n, "detail": format!("{e:#}") }),
                );
                return false;
            }
        }
        events::emit("script-done", json!({ "steps": steps.len() }));
        true
    }

    async fn send(&mut self, n: usize, s: &script::Send) -> anyhow::Result<()> {
        let built = s
            .build(&self.me, &self.vars)
            .with_context(|| format!("step {n}: send"))?;
        if let Some((ip, port)) = built.udp_source {
            if ip == self.me.address && !ip.is_unspecified() && !self.held.contains_key(&port) {
                // Best effort: a port some daemon on this host holds stays its own.
                if let Ok(u) = std::net::UdpSocket::bind((ip, port)) {
                    let _ = u.set_nonblocking(true);
                    self.held.insert(port, u);
                }
            }
        }
        // Our own frames never come back (PACKET_IGNORE_OUTGOING); the decoder still has to see
        // them to follow a TFTP conversation we start (RFC 1350 §4).
        let summary = self.decoder.decode(&built.frame).to_string();
        for _ in 0..s.repeat.unwrap_or(1).max(1) {
            self.sock
                .send(&built.frame)
                .await
                .with_context(|| format!("step {n}: sending {summary}"))?;
        }
        tracing::info!("step {n}: sent {summary}");
        events::emit(&format!("sent-{n}"), json!({ "frame": summary }));
        Ok(())
    }

    async fn next_frame(&mut self, until: tokio::time::Instant) -> Option<Seen> {
        loop {
            let r = tokio::time::timeout_at(until, self.sock.recv(&mut self.buf)).await;
            let got = match r {
                Err(_) => return None,
                Ok(Err(e)) => {
                    tracing::warn!("recv: {e}");
                    continue;
                }
                Ok(Ok(g)) => g,
            };
            self.received += 1;
            let raw = &self.buf[..got.len];
            let d = self.decoder.decode(raw);
            let mut fields = matcher::fields(&d, raw);
            fields.insert("_kind".into(), kind_word(&d, raw));
            return Some(Seen {
                number: self.received,
                summary: d.to_string(),
                fields,
            });
        }
    }

    async fn expect(&mut self, n: usize, e: &Expect) -> anyhow::Result<()> {
        let within = self.real(&e.within, "expect.within")?;
        let until = tokio::time::Instant::now() + within;
        let want_kind = kind_name(e.proto);
        let mut nearest: Option<(Seen, (String, String, String))> = None;
        while let Some(seen) = self.next_frame(until).await {
            let kind = seen.fields.get("_kind").cloned().unwrap_or_default();
            if want_kind != "any" && !kind.split(',').any(|k| k == want_kind) {
                continue;
            }
            match matcher::mismatch(&seen.fields, &e.fields, &self.vars)? {
                Some(m) => {
                    tracing::debug!("step {n}: frame {} differs: {m:?}", seen.number);
                    nearest = Some((seen, m));
                }
                None if e.none => {
                    events::emit(
                        &format!("expect-{n}-failed"),
                        json!({ "frame": seen.summary, "number": seen.number, "detail": "a matching frame arrived, which must not happen" }),
                    );
                    anyhow::bail!(
                        "step {n}: expected no such {want_kind} frame within {}, got frame {} ({})",
                        e.within,
                        seen.number,
                        seen.summary
                    );
                }
                None => {
                    let mut caps = serde_json::Map::new();
                    for (var, field) in &e.capture {
                        let key = matcher::canonical(field);
                        let v = seen.fields.get(&key).cloned().with_context(|| {
                            format!(
                                "step {n}: capture {var}: frame {} has no field {field}",
                                seen.number
                            )
                        })?;
                        caps.insert(var.clone(), json!(v));
                        self.vars.insert(var.clone(), v);
                    }
                    tracing::info!("step {n}: matched frame {} ({})", seen.number, seen.summary);
                    let mut ev = serde_json::Map::new();
                    ev.insert("frame".into(), json!(seen.summary));
                    ev.insert("number".into(), json!(seen.number));
                    ev.extend(caps);
                    events::emit(&format!("expect-{n}-ok"), serde_json::Value::Object(ev));
                    return Ok(());
                }
            }
        }
        if e.none {
            events::emit(&format!("expect-{n}-ok"), json!({ "absent": true }));
            return Ok(());
        }
        let detail = match &nearest {
            Some((seen, (field, got, want))) => format!(
                "no {want_kind} frame matched within {}; the last candidate, frame {} ({}), has {field} = {got:?}, wanted {want:?}",
                e.within, seen.number, seen.summary
            ),
            None => format!("no {want_kind} frame at all within {}", e.within),
        };
        let mut ev = json!({ "detail": detail });
        if let Some((seen, (field, got, want))) = &nearest {
            ev = json!({ "detail": detail, "frame": seen.summary, "number": seen.number, "field": field, "got": got, "want": want });
        }
        events::emit(&format!("expect-{n}-failed"), ev);
        anyhow::bail!("{detail}")
    }

    /// After the script: keep reading (and dropping) frames so the socket never backs up.
    async fn linger(&mut self) {
        loop {
            let far = tokio::time::Instant::now() + Duration::from_secs(3600);
            let _ = self.next_frame(far).await;
        }
    }
}

fn kind_name(p: script::Proto) -> &'static str {
    use script::Proto::*;
    match p {
        Dhcp => "dhcp",
        Bootp => "bootp",
        Arp => "arp",
        Rarp => "rarp",
        Icmp => "icmp",
        Tftp => "tftp",
        Any => "any",
    }
}

/// Every kind a frame counts as (`bootp,dhcp` for a DHCP message).
fn kind_word(d: &bootlab_wire::frame::Decoded, raw: &[u8]) -> String {
    use script::Proto::*;
    [Dhcp, Bootp, Arp, Rarp, Icmp, Tftp]
        .into_iter()
        .filter(|p| matcher::is_kind(d, raw, *p))
        .map(kind_name)
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `10s`, `500ms`, `2m` or `1.5s`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let i = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(i);
    let n: f64 = num.trim().parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}
