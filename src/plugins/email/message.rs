//! The email monasca-notification sends, byte for byte: its three body templates, subjects,
//! dimensions text, `time.asctime` timestamp and Grafana link, wrapped the way Python's
//! `MIMEText(text, 'plain', 'utf-8')` and `Header(subject, 'utf-8')` serialize them.
//!
//! Pure functions of the notification, the configuration and the date header: no I/O, no
//! clock (the caller passes the `Date:` value), so every byte can be checked in unit tests.
//! It deliberately keeps Monasca's text, lower-cased reason and literal `None` included,
//! because operators' mail filters and habits depend on it; it fixes only what made Monasca
//! fail or emit broken links (no metrics, unencoded Grafana query).

use crate::model::{Metric, Notification};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Subject and body text before MIME encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub body: String,
}

/// Python's rendering of a missing value (`str(None)`), kept for identical text.
const NONE: &str = "None";

/// Builds subject and body as Monasca's `_create_msg` did. The template depends on the
/// distinct `hostname` dimensions: exactly one selects the single-host text (with a target
/// line when a `target_host` dimension exists), none or several the multiple-hosts text.
pub fn compose(notification: &Notification, grafana_url: Option<&str>) -> Composed {
    let alarm = &notification.alarm;
    let hostnames = distinct(&alarm.metrics, "hostname");
    let target_hosts = distinct(&alarm.metrics, "target_host");
    let message = alarm.state_change_reason.to_lowercase();
    let state = alarm.new_state.as_str();
    let name = &alarm.alarm_name;
    let severity = &alarm.severity;
    // Monasca read `metrics[0]` unconditionally and failed on alarms without metrics; such
    // alarms now get the text of an unset grafana_url instead.
    let grafana = match (grafana_url, alarm.metrics.first()) {
        (Some(base), Some(metric)) => grafana_link(base, metric, alarm.timestamp_secs() * 1000),
        _ => NONE.to_owned(),
    };
    let rest = format!(
        "Alarm \"{name}\" transitioned to the {state} state at {timestamp} UTC\n{id_label}: {alarm_id}\n\n\
         Lifecycle state: {lifecycle}\nLink: {link}\nLink to Grafana: {grafana}\n\n\
         With dimensions{colon}\n{dimensions}",
        timestamp = asctime(alarm.timestamp_secs()),
        id_label = if hostnames.len() == 1 { "alarm_id" } else { "Alarm_id" },
        alarm_id = alarm.alarm_id,
        lifecycle = alarm.lifecycle_state.as_deref().unwrap_or(NONE),
        link = alarm.link.as_deref().unwrap_or(NONE),
        colon = if hostnames.len() == 1 { ":" } else { "" },
        dimensions = format_dimensions(&alarm.metrics),
    );
    match (hostnames.as_slice(), target_hosts.first()) {
        ([host], Some(target)) => Composed {
            subject: format!("{state} {severity} \"{name}\" for Host: {host} Target: {target}"),
            body: format!("On host \"{host}\" for target \"{target}\" {message}\n\n{rest}"),
        },
        ([host], None) => Composed {
            subject: format!("{state} {severity} \"{name}\" for Host: {host}"),
            body: format!("On host \"{host}\" {message}\n\n{rest}"),
        },
        _ => Composed {
            subject: format!("{state} {severity} \"{name}\" "),
            body: format!("On multiple hosts {message}\n\n{rest}"),
        },
    }
}

/// The whole message as it goes after SMTP `DATA`: headers in the order Python's email package
/// writes them, CRLF line ends, the body base64 in 76-character lines. The last line has no
/// line end: the SMTP end-of-data sequence supplies it, so the server receives what
/// `smtplib.sendmail` delivered.
pub fn mime(composed: &Composed, from: &str, to: &str, date: &str) -> Vec<u8> {
    let mut out = String::with_capacity(composed.body.len() * 4 / 3 + 512);
    out.push_str("Content-Type: text/plain; charset=\"utf-8\"\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n");
    push_header(&mut out, "Subject", &encode_header(&composed.subject));
    push_header(&mut out, "From", &plain_header(from));
    push_header(&mut out, "To", &plain_header(to));
    push_header(&mut out, "Date", date);
    out.push_str("\r\n");
    let body = composed.body.as_bytes();
    // 57 bytes encode to one 76-character line, as Python's base64mime.body_encode.
    let lines: Vec<String> = body.chunks(57).map(|chunk| STANDARD.encode(chunk)).collect();
    out.push_str(&lines.join("\r\n"));
    out.into_bytes()
}

/// `email.utils.formatdate(localtime=True, usegmt=True)`: local time with a numeric offset.
pub fn date_header<Tz: chrono::TimeZone>(now: chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    now.format("%a, %d %b %Y %H:%M:%S %z").to_string()
}

/// `time.asctime(time.gmtime(seconds))`, e.g. `Wed May  1 09:39:12 2019` (day space-padded).
pub fn asctime(seconds: i64) -> String {
    match chrono::DateTime::from_timestamp(seconds, 0) {
        Some(time) => time.format("%a %b %e %H:%M:%S %Y").to_string(),
        None => seconds.to_string(),
    }
}

/// Monasca's `_format_dimensions`: one brace block per metric, dimensions in wire order.
pub fn format_dimensions(metrics: &[Metric]) -> String {
    let sets: Vec<String> = metrics
        .iter()
        .map(|metric| {
            let pairs: Vec<String> = metric.dimensions.iter().map(|(k, v)| format!("    {k}: {v}")).collect();
            format!("  {{\n{}\n  }}", pairs.join(",\n"))
        })
        .collect();
    format!("[\n{} \n]", sets.join(",\n"))
}

/// Monasca's `_get_link_url`: the drilldown dashboard for the metric, ten minutes either side
/// of the alarm. Unlike Monasca, names and values are URL-encoded (a space or `&` in a
/// dimension broke the link) and a trailing `/` on the base is not doubled.
pub fn grafana_link(base: &str, metric: &Metric, timestamp_ms: i64) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut url = format!("{}/dashboard/script/drilldown.js?metric={}", base.trim_end_matches('/'), encode(&metric.name));
    for (key, value) in &metric.dimensions {
        url.push_str(&format!("&{}={}", encode(key), encode(value)));
    }
    url.push_str(&format!("&from={}&to={}", timestamp_ms - 600_000, timestamp_ms + 600_000));
    url
}

/// Distinct values of one dimension over all metrics, first seen first.
fn distinct<'a>(metrics: &'a [Metric], key: &str) -> Vec<&'a str> {
    let mut values = Vec::new();
    for value in metrics.iter().filter_map(|m| m.dimension(key)) {
        if !values.contains(&value) {
            values.push(value);
        }
    }
    values
}

fn push_header(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
}

/// A header Python wrote as given when it is ASCII (addresses); otherwise encoded as Python's
/// `Header` falls back to UTF-8.
fn plain_header(value: &str) -> String {
    if value.is_ascii() {
        value.to_owned()
    } else {
        encode_header(value)
    }
}

/// Longest header line RFC 5322 allows, without its CRLF.
const MAX_LINE: usize = 998;
/// Longest encoded word RFC 2047 allows.
const MAX_WORD: usize = 75;
/// `=?utf-8?x?` and `?=`.
const WORD_CHROME: usize = 12;

/// RFC 2047 as Python's `Header(value, 'utf-8')` encodes it with the `as_string()` defaults:
/// one unfolded encoded word, `q` unless `b` is strictly shorter. Only a value that would make
/// the line longer than RFC 5322 allows is split into several words on folded lines.
pub fn encode_header(value: &str) -> String {
    let bytes = value.as_bytes();
    let base64 = bytes.len().div_ceil(3) * 4 < bytes.iter().map(|&b| q_len(b)).sum::<usize>();
    let word = |text: &str| {
        if base64 {
            format!("=?utf-8?b?{}?=", STANDARD.encode(text.as_bytes()))
        } else {
            format!("=?utf-8?q?{}?=", text.bytes().map(q_byte).collect::<String>())
        }
    };
    let whole = word(value);
    // "Subject: " is the longest header name this is used with.
    if whole.len() + "Subject: ".len() <= MAX_LINE {
        return whole;
    }
    let mut words = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for (index, c) in value.char_indices() {
        let next = index + c.len_utf8();
        let encoded = if base64 { (next - start).div_ceil(3) * 4 } else { value[start..next].bytes().map(q_len).sum() };
        if encoded + WORD_CHROME > MAX_WORD && end > start {
            words.push(word(&value[start..end]));
            start = end;
        }
        end = next;
    }
    words.push(word(&value[start..]));
    words.join("\r\n ")
}

/// Bytes Python's header quoted-printable leaves as they are (`quoprimime._QUOPRI_HEADER_MAP`).
fn q_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-!*+/".contains(&b)
}

fn q_len(b: u8) -> usize {
    if q_safe(b) || b == b' ' {
        1
    } else {
        3
    }
}

fn q_byte(b: u8) -> String {
    match b {
        b' ' => "_".to_owned(),
        b if q_safe(b) => (b as char).to_string(),
        b => format!("={b:02X}"),
    }
}
