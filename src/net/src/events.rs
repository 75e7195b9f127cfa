//! Machine-readable events: one JSON object per line on stdout, `{"event": NAME, ...fields}`.
//! The lab waits on them (`wait = { host = "rom", event = "boot-file-received" }`); people read
//! the logs on stderr.
//!
//! Event names used across the project (kebab-case): `ready`, `offer-received`, `bound`,
//! `renewed`, `rebound`, `released`, `declined`, `conflict`, `nak-received`, `boot-reply-received`,
//! `boot-file-received`, `transfer-complete`, `transfer-failed`, `lease-acked`, `ignored`.

/// Prints one event line to stdout, so a waiting lab sees it at once, without ever blocking:
/// a stdout nobody drains queues the line, and past a bound drops it (counted, then reported
/// as an `events-dropped` event; see [`crate::log::Sink`]).
pub fn emit(event: &str, fields: serde_json::Value) {
    let mut batch = Batch::default();
    batch.push(event, fields);
    batch.flush();
}

/// Event lines gathered and written to stdout with one write: a daemon that handles a batch of
/// datagrams prints their events together (one system call instead of one per event).
#[derive(Debug, Default)]
pub struct Batch {
    buf: Vec<u8>,
}

impl Batch {
    /// Adds one event line, as [`emit`] would print it.
    pub fn push(&mut self, event: &str, fields: serde_json::Value) {
        let mut obj = match fields {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        obj.insert("event".into(), serde_json::Value::String(event.into()));
        // Serialising a JSON value into memory cannot fail.
        let _ = serde_json::to_writer(&mut self.buf, &serde_json::Value::Object(obj));
        self.buf.push(b'\n');
    }

    /// Writes the gathered lines to stdout without ever blocking (see [`crate::log::Sink`]); the
    /// batch is empty afterwards.
    pub fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        crate::log::Sink::of(crate::log::Stream::Stdout).send(&self.buf);
        self.buf.clear();
    }
}

/// Parses an event line printed by [`emit`]; `None` for any other line.
pub fn parse(line: &str) -> Option<(String, serde_json::Value)> {
    let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    let name = v.get("event")?.as_str()?.to_string();
    Some((name, v))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parse_reads_back_an_event_line() {
        let line = r#"{"event":"bound","address":"192.0.2.100"}"#;
        let (name, v) = super::parse(line).expect("an event line");
        assert_eq!(name, "bound");
        assert_eq!(v["address"], "192.0.2.100");
        assert!(super::parse("plain log text").is_none());
    }
}
