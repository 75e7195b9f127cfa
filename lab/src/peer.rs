//! Launching a third-party implementation from its profile inside a lab host: rendering its
//! files and command line from the role's parameters, and telling when it is ready.

use crate::process::{Process, ProcessSpec, Stream};
use crate::profile::{ProfileSet, ReadyCheck, Rendered, Role, RoleParams};
use std::path::Path;
use std::time::Duration;

/// A peer ready to be spawned: the process spec and its rendered profile.
#[derive(Debug)]
pub struct Launch {
    /// What to spawn in the host.
    pub spec: ProcessSpec,
    /// The rendered profile (readiness, events).
    pub rendered: Rendered,
}

/// Renders profile `implementation` for a role of `kind` whose parameters are `config`, writing its
/// files into `state`.
pub fn prepare(set: &ProfileSet, implementation: &str, kind: &str, config: &toml::Table, state: &Path, name: &str) -> Result<Launch, String> {
    let profile = set.get(implementation).map_err(|e| e.to_string())?;
    let role: Role = kind.parse().map_err(|e| format!("{e:?}"))?;
    if !profile.fills(role) {
        return Err(format!("{implementation} cannot fill role kind {kind}"));
    }
    let params = RoleParams::from_config(config).map_err(|e| e.to_string())?;
    let rendered = profile.render(role, &params, &set.render_env(state)).map_err(|e| e.to_string())?;
    rendered.write_files().map_err(|e| e.to_string())?;
    let spec = ProcessSpec { argv: rendered.launch_argv(), env: rendered.env.clone(), cwd: Some(rendered.state_dir.clone()), name: name.to_string() };
    Ok(Launch { spec, rendered })
}

/// Waits until the peer is ready, as its profile says.
pub async fn wait_ready(rendered: &Rendered, process: &Process, within: Duration) -> Result<(), String> {
    match &rendered.ready {
        ReadyCheck::Started => Ok(()),
        ReadyCheck::Log(_) => process.wait_for_line(|l| rendered.ready_on_line(&l.text), within).await.map(|_| ()).map_err(|e| e.to_string()),
        ReadyCheck::UdpPort(port) => poll(within, || crate::profile::udp_port_bound(process.pid(), *port).unwrap_or(false)).await,
        ReadyCheck::File(path) => poll(within, || path.exists()).await,
    }
}

async fn poll(within: Duration, mut ready: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("not ready within {within:?}"))
}

/// Events a peer's output line carries (its hook's event lines and its profile's log rules).
pub fn line_events(rendered: &Rendered, stream: Stream, text: &str) -> Vec<serde_json::Value> {
    let _ = stream;
    rendered.events_on_line(text)
}
