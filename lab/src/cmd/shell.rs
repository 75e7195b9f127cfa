//! `bootlab shell SCENARIO [--host H] [-- COMMAND...]`: steps into a scenario's world. The world
//! is built and the roles that start by themselves are started as for `bootlab run` (the steps
//! are not run), every segment is captured, and a shell (or COMMAND) runs inside the host's
//! network, UTS and mount namespaces with the terminal; when it exits, the roles and the world
//! are torn down, and the captures are left as per-segment pcaps plus `capture.pcapng` with the
//! lab's names. Its exit status is the command's.

use crate::exec::runner::{self, Options};
use crate::plan::role_kind::RoleKind;
use crate::report::pcapng;
use crate::world::topology::{Address, Topology};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Arguments of `bootlab shell`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The scenario (name or file).
    pub scenario: String,
    /// The host to step into (default: the first host of the scenario in name order).
    #[arg(long)]
    pub host: Option<String>,
    /// Use an implementation for a role kind, e.g. `--impl dhcp-server=dnsmasq` (default: ours).
    #[arg(long = "impl", value_name = "KIND=IMPL")]
    pub impls: Vec<String>,
    /// Where the world's files, logs and captures go.
    #[arg(long, default_value = "out/shell")]
    pub out: PathBuf,
    /// The scenarios directory (default: `scenarios/` of the checkout).
    #[arg(long)]
    pub scenario_dir: Option<PathBuf>,
    /// The command to run instead of an interactive shell.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// Where each host is: its interfaces' segments and static addresses, one line per host.
fn hosts_text(t: &Topology) -> String {
    let mut s = String::new();
    for h in &t.hosts {
        let ifaces: Vec<String> = h
            .interfaces
            .iter()
            .enumerate()
            .map(|(i, iface)| {
                let addr = match iface.address {
                    Address::Static { address, .. } => address.to_string(),
                    _ => "no address".into(),
                };
                format!(
                    "{} on {} ({addr}, {})",
                    crate::world::topology::interface_name(i),
                    iface.segment,
                    h.mac(i)
                )
            })
            .collect();
        s.push_str(&format!("  {:<10} {}\n", h.name, ifaces.join("; ")));
    }
    s
}

/// Runs `bootlab shell`; returns the command's exit code.
pub fn run(a: Args) -> anyhow::Result<i32> {
    let dir = a
        .scenario_dir
        .clone()
        .unwrap_or_else(|| super::matrix::project_dir("scenarios"));
    let files = crate::plan::scenario::resolve(std::slice::from_ref(&a.scenario), &dir)?;
    let [file] = files.as_slice() else {
        anyhow::bail!("{}: name one scenario", a.scenario);
    };
    let sc = crate::exec::load(file)?;
    let host = match &a.host {
        Some(h) if sc.hosts.contains_key(h) => h.clone(),
        Some(h) => anyhow::bail!(
            "--host {h}: scenario {} has hosts {}",
            sc.name,
            sc.hosts.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        None => sc
            .hosts
            .keys()
            .next()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("scenario {} has no host", sc.name))?,
    };
    let mut impls: BTreeMap<RoleKind, String> = BTreeMap::new();
    for i in &a.impls {
        let (k, v) = i
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--impl {i}: expected KIND=IMPL"))?;
        let kind: RoleKind = k.parse().map_err(|e| anyhow::anyhow!("--impl {i}: {e}"))?;
        impls.insert(kind, v.to_string());
    }
    let cwd = std::env::current_dir()?;
    let out = if a.out.is_absolute() {
        a.out.clone()
    } else {
        cwd.join(&a.out)
    };
    let opts = Options {
        out: out.clone(),
        golden: super::matrix::project_dir("golden"),
        accept: false,
        impls,
        exe: std::env::current_exe()?,
        rootless: !nix::unistd::geteuid().is_root(),
        interrupt: Default::default(),
    };
    let world_dir = out.join(&sc.name);
    let interactive = a.command.is_empty();
    let argv: Vec<String> = if interactive {
        vec![
            "bash".into(),
            "--norc".into(),
            "--noprofile".into(),
            "-i".into(),
        ]
    } else {
        a.command.clone()
    };

    crate::world::isolate::enter()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    let (code, report, topology) = rt.block_on(async {
        let inside = async |world: &crate::world::World, topo: &Topology| -> anyhow::Result<(i32, Topology)> {
            eprintln!(
                "bootlab shell: scenario {} ({}), on host {host}; roles running: {}.\nhosts:\n{}captures and logs: {}\n{}",
                sc.name,
                sc.about,
                sc.roles
                    .iter()
                    .filter(|(_, r)| r.autostart)
                    .map(|(n, r)| format!("{n} on {}", r.host.get_ref()))
                    .collect::<Vec<_>>()
                    .join(", "),
                hosts_text(topo),
                world_dir.display(),
                if interactive {
                    "exit the shell to tear the world down."
                } else {
                    ""
                }
            );
            let mut cmd = world.command(&host, &argv)?;
            cmd.env("BOOTLAB_SCENARIO", &sc.name)
                .env("BOOTLAB_HOST", &host)
                .env("PS1", format!("[bootlab {} {host}] \\w# ", sc.name));
            let mut child = tokio::process::Command::from(cmd).spawn()?;
            // Ctrl-C belongs to the command (an interactive shell takes the terminal itself);
            // the lab waits for it to end, then tears the world down.
            let status = loop {
                tokio::select! {
                    s = child.wait() => break s?,
                    _ = tokio::signal::ctrl_c() => {}
                }
            };
            Ok((status.code().unwrap_or(128 + 9), topo.clone()))
        };
        let (r, report) = runner::around(&sc, &opts, &world_dir, inside).await?;
        let (code, topo) = r?;
        Ok::<_, anyhow::Error>((code, report, topo))
    })?;

    // Names as a run's pcapng has them: the lab's, plus every address a server assigned.
    let mut frames = Vec::new();
    for seg in &report.segments {
        frames.extend(runner::read_pcap(&seg.segment, &seg.pcap).unwrap_or_default());
    }
    let trace = crate::judge::trace::Trace {
        frames,
        names: runner::names_of(&topology),
        ..Default::default()
    };
    let (ips, macs) = pcapng::names_of(&trace);
    let notes = pcapng::Annotations {
        ips,
        macs,
        comments: Default::default(),
        comment: format!("bootlab shell {} on {host}", sc.name),
    };
    let segments: Vec<pcapng::Segment> = report
        .segments
        .iter()
        .map(|s| pcapng::Segment {
            name: s.segment.clone(),
            description: format!("bootlab segment {}", s.segment),
            pcap: s.pcap.clone(),
        })
        .collect();
    let pcapng_path = world_dir.join(crate::report::artifacts::PCAPNG);
    pcapng::write(&pcapng_path, &segments, &notes)?;
    eprintln!(
        "bootlab shell: world torn down; captures: {} ({})",
        pcapng_path.display(),
        report
            .segments
            .iter()
            .map(|s| format!("{} {} frames", s.segment, s.frames))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(code)
}
