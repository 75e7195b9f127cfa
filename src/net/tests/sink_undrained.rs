//! Issue 18: a daemon whose stdout nobody reads must not wedge. A child process (this test
//! binary again) emits 100 000 events into a pipe that the parent never reads; it must get
//! through them and exit, the overflow dropped and counted instead of blocking.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "BOOTLAB_SINK_CHILD";

#[test]
fn events_into_an_undrained_stdout_never_block_the_emitter() {
    if std::env::var_os(CHILD).is_some() {
        for i in 0..100_000u32 {
            bootlab_net::events::emit("flood", serde_json::json!({"i": i, "pad": "x".repeat(100)}));
        }
        let sink = bootlab_net::log::Sink::of(bootlab_net::log::Stream::Stdout);
        // Past the pipe (64 KiB) and the queue (1 MiB), lines are dropped and counted.
        let code = if sink.dropped() > 0 { 0 } else { 3 };
        // Straight out: the test harness's own summary would block on the full pipe.
        std::process::exit(code);
    }
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "events_into_an_undrained_stdout_never_block_the_emitter",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child");
    // Hold the read end open and never read it.
    let _undrained = child.stdout.take();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let status = status.expect("the emitter wedged on an undrained stdout");
    assert_eq!(
        status.code(),
        Some(0),
        "lines were neither written nor dropped?"
    );
}
