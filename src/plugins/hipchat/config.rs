//! `[hipchat_notifier]`: the HTTP options shared with Slack, plus `notify`. Room tokens are in
//! the methods' addresses, not here. Reading only; nothing here sends.

use crate::config::{Error as ConfigError, Reader};
use crate::plugins::slack::TransportOptions;

const SECTION: &str = "hipchat_notifier";

/// `[hipchat_notifier]`.
#[derive(Clone, Debug)]
pub struct HipChatConfig {
    /// `timeout`, `insecure` (default false: verification on), `ca_certs`, `proxy`.
    pub transport: TransportOptions,
    /// `notify`: ask HipChat to alert the room's users (sound, badge). Default false, which
    /// sends exactly Monasca's form (HipChat's own default is false too).
    pub notify: bool,
}

impl HipChatConfig {
    pub fn read(r: &Reader) -> Result<HipChatConfig, ConfigError> {
        Ok(HipChatConfig { transport: TransportOptions::read(r, SECTION)?, notify: r.bool(SECTION, "notify", false)? })
    }

    /// `(key, value)` pairs for `tocsin check-config`, secrets masked.
    pub fn render_masked(&self) -> Vec<(String, String)> {
        let mut entries = self.transport.render_masked();
        entries.push(("notify".into(), self.notify.to_string()));
        entries
    }
}
