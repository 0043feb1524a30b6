//! PLACEHOLDER: rule durations (`1d4h`, `30s`); replaced by the session that builds it.
//! Signatures are final.

use std::time::Duration;

/// Parses `<int>d|h|m|s` concatenated; the message says what to fix.
pub fn parse(_text: &str) -> Result<Duration, String> {
    Err("durations are not built yet".into())
}

/// The canonical text of a duration (`1d4h`, `30s`, `0s`).
pub fn format(_duration: Duration) -> String {
    String::new()
}
