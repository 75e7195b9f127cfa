//! Daemon configuration files (TOML) with errors that name the file, the line and the key, shared
//! by every daemon of ours.

use std::path::{Path, PathBuf};

/// A configuration problem, naming the file, the line and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// A key has a bad value or the syntax is wrong.
    #[error("{path}:{line}:{column}: {key}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// The key with its enclosing table, as far as it can be told.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads and deserialises the TOML file at `path`.
pub fn load<T: serde::de::DeserializeOwned>(path: &Path) -> Result<(T, String), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    let v = parse(&text, path)?;
    Ok((v, text))
}

/// Deserialises TOML `text`; `path` is only used in errors.
pub fn parse<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| s.start).unwrap_or(0);
        invalid_at(text, path, at, e.message())
    })
}

/// A [`ConfigError::Invalid`] for byte offset `at` of `text` (e.g. a `toml::Spanned` start):
/// line, column, and the key written on that line prefixed by the enclosing `[table]`.
pub fn invalid_at(text: &str, path: &Path, at: usize, message: &str) -> ConfigError {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    let this_line = text[line_start..].lines().next().unwrap_or("");
    let key = this_line
        .split_once('=')
        .map(|(k, _)| k.trim().to_string())
        .unwrap_or_default();
    let table = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').to_string());
    let key = match (table, key.is_empty()) {
        (Some(t), false) => format!("{t}.{key}"),
        (Some(t), true) => t,
        (None, _) => key,
    };
    ConfigError::Invalid {
        path: path.into(),
        line,
        column,
        key,
        message: message.trim().into(),
    }
}

/// Checks a daemon's `min-message-size`: RFC 1542 §2.1 has every BOOTP entity discard messages
/// shorter than 300 octets, and that is our daemons' default; accepting shorter ones, down to the
/// 236-octet fixed header (RFC 951 §3, anything shorter cannot be parsed), is an opt-in tolerance
/// for senders that omit the vendor-area padding (perfdhcp, Kea's 262-octet replies). More than
/// 300 would drop conformant messages.
pub fn check_min_message_size(text: &str, path: &Path, n: usize) -> Result<(), ConfigError> {
    use bootlab_wire::bootp::{HEADER_LEN, MIN_MESSAGE_LEN};
    if (HEADER_LEN..=MIN_MESSAGE_LEN).contains(&n) {
        return Ok(());
    }
    Err(invalid_key(
        text,
        path,
        "min-message-size",
        &format!(
            "{n}: from {HEADER_LEN} (the fixed header, RFC 951 §3) to {MIN_MESSAGE_LEN} (RFC 1542 §2.1)"
        ),
    ))
}

/// A [`ConfigError::Invalid`] for `key`, located at the first line of `text` that mentions it.
pub fn invalid_key(text: &str, path: &Path, key: &str, message: &str) -> ConfigError {
    let line = text
        .lines()
        .position(|l| l.contains(key))
        .map(|i| i + 1)
        .unwrap_or(0);
    ConfigError::Invalid {
        path: path.into(),
        line,
        column: 0,
        key: key.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u8,
        s: Option<S>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct S {
        b: std::net::Ipv4Addr,
    }

    #[test]
    fn errors_carry_line_and_key() {
        let e = parse::<T>("a = 1\n[s]\nb = \"x\"\n", Path::new("f.toml")).expect_err("bad");
        let s = e.to_string();
        assert!(s.starts_with("f.toml:3:"), "{s}");
        assert!(s.contains("s.b"), "{s}");
    }
}
