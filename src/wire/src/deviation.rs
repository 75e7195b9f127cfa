//! Deviations: what a lenient parser found wrong with a packet that it could still decode.

use serde::Serialize;

/// How serious a deviation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Breaks a MUST of the cited rule.
    Error,
    /// Breaks a SHOULD, or is merely unusual.
    Warning,
}

/// One thing a parser found wrong, e.g. `option 53: length 2, expected 1 (RFC 2132 §9.6)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deviation {
    /// The field, e.g. `"option 53"`, `"udp.checksum"`, `"vend"`.
    pub field: String,
    /// Byte offset of the field within the layer's bytes, when known.
    pub offset: Option<usize>,
    /// What is wrong, in words.
    pub message: String,
    /// The rule broken, e.g. `"RFC 2132 §9.6"`.
    pub rule: &'static str,
    /// How serious it is.
    pub severity: Severity,
}

impl std::fmt::Display for Deviation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.rule)
    }
}

/// What to do with checksums on parse. veth transmit offload leaves UDP checksums unfinished on
/// captured frames, so checking is a policy, not a constant (DESIGN.md, kernel facts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumPolicy {
    /// Verify and report a mismatch as a deviation.
    #[default]
    Verify,
    /// Do not verify.
    Ignore,
}
