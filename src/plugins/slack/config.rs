//! `[slack_notifier]`: the HTTP options shared with HipChat and the optional message template,
//! which is read and parsed here, at start, so a broken template stops the start with its file
//! and line instead of failing every notification. Reading only; nothing here sends.

use super::template::MessageTemplate;
use super::transport::TransportOptions;
use crate::config::{Error as ConfigError, Reader};
use std::path::Path;

const SECTION: &str = "slack_notifier";

/// `[slack_notifier]`.
#[derive(Clone, Debug)]
pub struct SlackConfig {
    /// `timeout`, `insecure` (default false: verification on), `ca_certs`, `proxy`.
    pub transport: TransportOptions,
    /// `message_template`: a Jinja file, parsed at start; `None` sends the standard body as
    /// indented JSON text.
    pub message_template: Option<MessageTemplate>,
}

impl SlackConfig {
    pub fn read(r: &Reader) -> Result<SlackConfig, ConfigError> {
        let transport = TransportOptions::read(r, SECTION)?;
        let message_template = match r.opt_string(SECTION, "message_template") {
            None => None,
            Some(path) => {
                let template = MessageTemplate::load(Path::new(&path)).map_err(|message| {
                    r.invalid(SECTION, "message_template", message)
                })?;
                Some(template)
            }
        };
        Ok(SlackConfig { transport, message_template })
    }

    /// `(key, value)` pairs for `tocsin check-config`, secrets masked.
    pub fn render_masked(&self) -> Vec<(String, String)> {
        let mut entries = self.transport.render_masked();
        let template = self.message_template.as_ref().map(|t| t.path.display().to_string()).unwrap_or_default();
        entries.push(("message_template".into(), template));
        entries
    }
}
