//! `bootlab bench tftp`: TFTP downloads over a slow link, where windowsize (RFC 7440) matters.
//! One world: `ours` (`bootlab tftpd`) and `hpa` (tftpd-hpa's `in.tftpd`) serve the same file to
//! `client`, whose link runs through the lab's impairment wire with `--delay-ms` added in each
//! direction. The client is ours (`bootlab tftp get`) for every case; each server is tried with
//! several option sets and the best of each is compared. Bounded: every download has a timeout.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::plan::impairment::Impairment;
use crate::world::process::ProcessSpec;
use crate::world::topology::Topology;
use crate::world::{World, WorldError};

/// Arguments of `bootlab bench tftp`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// One-way delay added to every frame on the client's link, each direction (ms).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=200))]
    pub delay_ms: u64,
    /// File size in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub file_size: usize,
    /// Downloads per case (the median counts).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub runs: u32,
}

const TOPOLOGY: &str = r#"
[[segments]]
name = "lan"
subnet = "192.0.2.0/24"

[[hosts]]
name = "ours"
interfaces = [{ segment = "lan", address = "192.0.2.1" }]

[[hosts]]
name = "hpa"
interfaces = [{ segment = "lan", address = "192.0.2.3" }]

[[hosts]]
name = "client"
interfaces = [{ segment = "lan", address = "192.0.2.2" }]
"#;

/// The cases: (server host, label, `bootlab tftp get` options).
const CASES: &[(&str, &str, &[&str])] = &[
    ("hpa", "512 lock-step", &[]),
    ("hpa", "blksize 1468", &["--blksize", "1468"]),
    ("hpa", "blksize 65464", &["--blksize", "65464"]),
    ("ours", "512 lock-step", &[]),
    (
        "ours",
        "blksize 1468 windowsize 16",
        &["--blksize", "1468", "--windowsize", "16"],
    ),
    (
        "ours",
        "blksize 1468 windowsize 64",
        &["--blksize", "1468", "--windowsize", "64"],
    ),
    (
        "ours",
        "blksize 65464 windowsize 8",
        &["--blksize", "65464", "--windowsize", "8"],
    ),
    (
        "ours",
        "blksize 65464 windowsize 32",
        &["--blksize", "65464", "--windowsize", "32"],
    ),
];

/// Runs the bench inside the isolated lab.
pub async fn run(args: Args) -> anyhow::Result<()> {
    if !crate::world::isolate::is_root() {
        bail!("bench tftp: in.tftpd needs root (setgroups per request)");
    }
    let run_dir = super::server::private_tmpfs()?;
    let topo = Topology::from_toml(TOPOLOGY).context("bench topology")?;
    let world = World::build(&topo, &run_dir.join("world"), 1).await?;
    let result = bench(&args, &world, &run_dir).await;
    match world.shutdown().await {
        Ok(_) | Err(WorldError::CaptureLost { .. }) => {}
        Err(e) => eprintln!("bench tftp: shutdown: {e}"),
    }
    let _ = nix::mount::umount(&run_dir);
    let _ = std::fs::remove_dir(&run_dir);
    result
}

async fn bench(args: &Args, world: &World, dir: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?.to_string_lossy().into_owned();
    let root = dir.join("root");
    std::fs::create_dir_all(&root)?;
    std::fs::write(
        root.join("boot.img"),
        crate::exec::runner::file_content("boot.img", args.file_size),
    )?;
    let cfg = dir.join("ours.toml");
    std::fs::write(
        &cfg,
        format!(
            "root = \"{}\"\naddress = \"192.0.2.1\"\nmax-blksize = 65464\nmax-windowsize = 64\n",
            root.display()
        ),
    )?;
    let spec = |name: &str, argv: Vec<String>| ProcessSpec {
        argv,
        env: vec![("RUST_LOG".into(), "warn".into())],
        cwd: Some(dir.to_path_buf()),
        name: name.into(),
    };
    world.spawn(
        "ours",
        spec(
            "tftpd",
            vec![
                exe.clone(),
                "tftpd".into(),
                "--config".into(),
                cfg.display().to_string(),
            ],
        ),
    )?;
    world.spawn(
        "hpa",
        spec(
            "in.tftpd",
            [
                "/usr/sbin/in.tftpd",
                "--listen",
                "--foreground",
                "--address",
                "192.0.2.3:69",
                "--secure",
                "--user",
                "nobody",
                &root.display().to_string(),
            ]
            .map(String::from)
            .to_vec(),
        ),
    )?;
    for host in ["ours", "hpa"] {
        world
            .wait_for_port(host, crate::world::Proto::Udp, 69, Duration::from_secs(10))
            .await?;
    }
    let rules: Impairment = toml::from_str(&format!(
        "rules = [{{ match = \"any\", when = \"every\", action = {{ delay-ms = {} }} }}]",
        args.delay_ms
    ))
    .context("impairment")?;
    if args.delay_ms > 0 {
        world.set_impairment("lan", "client", rules).await?;
    }
    println!(
        "bench tftp: {} bytes, client link with {} ms one-way delay each direction (the lab's \
         impairment wire), client `bootlab tftp get`, median of {} downloads",
        args.file_size, args.delay_ms, args.runs
    );
    let mut best: [Option<(f64, &str)>; 2] = [None, None];
    for (i, (host, label, opts)) in CASES.iter().enumerate() {
        let server = if *host == "ours" {
            "192.0.2.1"
        } else {
            "192.0.2.3"
        };
        let mut times = Vec::new();
        for r in 0..args.runs {
            let out = dir.join(format!("dl-{i}-{r}"));
            let mut argv = vec![
                exe.clone(),
                "tftp".into(),
                "get".into(),
                "--server".into(),
                server.into(),
                "--output".into(),
                out.display().to_string(),
            ];
            argv.extend(opts.iter().map(|s| s.to_string()));
            argv.push("boot.img".into());
            let t0 = Instant::now();
            let p = world.spawn("client", spec(&format!("get-{i}-{r}"), argv))?;
            let status = p.wait_timeout(Duration::from_secs(120)).await;
            let secs = t0.elapsed().as_secs_f64();
            let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            let _ = std::fs::remove_file(&out);
            match status {
                Ok(s) if s.success() && size == args.file_size as u64 => times.push(secs),
                other => eprintln!("  {host} {label}: run {r} failed ({other:?}, {size} bytes)"),
            }
        }
        times.sort_by(f64::total_cmp);
        let Some(median) = times.get(times.len() / 2).copied() else {
            println!("{host:<5} {label:<28} failed");
            continue;
        };
        println!(
            "{host:<5} {label:<28} {median:>7.3} s  {:>6.2} MB/s",
            args.file_size as f64 / median / 1e6
        );
        let slot = &mut best[usize::from(*host == "ours")];
        if slot.is_none_or(|(t, _)| median < t) {
            *slot = Some((median, label));
        }
    }
    if let [Some((hpa, hl)), Some((ours, ol))] = best {
        println!(
            "best: ours ({ol}) {ours:.3} s vs tftpd-hpa ({hl}) {hpa:.3} s: ours is {:.1}x faster",
            hpa / ours
        );
    }
    Ok(())
}
