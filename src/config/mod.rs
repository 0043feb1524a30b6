//! How the configuration file is read: an existing monasca-notification INI file as it is, or the
//! same settings as TOML ([`Source`]), then typed option by option ([`Reader`]) into the
//! sections' own structs, which live beside what they configure (`kafka::KafkaConfig`,
//! `engines::retry::RetryConfig`, `plugins::webhook::WebhookConfig`, …) and are gathered into
//! one `app::Config`.
//!
//! Every error names the file, line and key at fault ([`Error`]); every option read is recorded
//! so that the ones never read can be reported. Secrets are [`Secret`]s. This module knows no
//! section of its own and opens no connection.

mod reader;
mod secret;
mod source;

pub use reader::{parse_duration, split_list, Error, Reader, MAX_DURATION};
pub use secret::Secret;
pub use source::{parse_ini, parse_toml, Source};

/// librdkafka properties as `key=value` lines, the ones that carry credentials masked: what
/// every `Debug` and rendering of a type holding them shows.
pub fn masked_properties(properties: &[(String, String)]) -> Vec<String> {
    properties.iter().map(|(k, v)| format!("{k}={}", mask_property(k, v))).collect()
}

/// Masks librdkafka properties that carry credentials.
fn mask_property(key: &str, value: &str) -> String {
    if key.contains("password") || key.contains("secret") || key.ends_with(".key.pem") || key.contains("oauthbearer.config") {
        "****".into()
    } else {
        value.to_owned()
    }
}
