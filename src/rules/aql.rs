//! The rule expression language of the alarm-manager blueprint (AQL, monasca-common):
//! `[source <selector>] [targets <selector>] [excluding <selector>] [group by k1, k2, ...]`, in that
//! order, where a selector is `metric_name`, `{k=v, ...}` or `metric_name{k=v, ...}`.
//!
//! A small hand-written recursive-descent parser: the grammar is a dozen rules and the errors
//! must point at a character and say what to write instead, which a generated parser makes
//! harder. Differences from monasca-common's pyparsing grammar, all deliberate
//! (`docs/rules.md`, Expressions): keys and values are trimmed; a key given twice in one
//! selector is an error (pyparsing kept the last); any whitespace may separate `group` and `by`;
//! values (and keys) may be double-quoted, so `,` `}` `=` can appear in them. Keys go through
//! [`Key::parse`], so aliases (`severity`, `alarm_name`) name the keyword keys.
//!
//! It must not evaluate anything: it turns text into specs and specs back into text.

use super::{GroupSpec, InhibitSpec, Key, Selector, SilenceSpec};

/// An expression that does not parse; `position` is the byte offset where it went wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {position})")]
pub struct AqlError {
    pub message: String,
    pub position: usize,
}

pub fn parse_group(expression: &str) -> Result<GroupSpec, AqlError> {
    let parsed = Parser::new(expression).expression()?;
    parsed.forbid("source", "a group rule is `[excluding <selector>] [group by <key>, ...]`")?;
    parsed.forbid("targets", "a group rule is `[excluding <selector>] [group by <key>, ...]`")?;
    Ok(GroupSpec { group_by: parsed.group_by.map(|(_, keys)| keys).unwrap_or_default(), exclusions: selector(parsed.excluding) })
}

pub fn parse_inhibit(expression: &str) -> Result<InhibitSpec, AqlError> {
    let parsed = Parser::new(expression).expression()?;
    Ok(InhibitSpec {
        source: selector(parsed.source),
        target: selector(parsed.targets),
        equal: parsed.group_by.map(|(_, keys)| keys).unwrap_or_default(),
        exclusions: selector(parsed.excluding),
    })
}

pub fn parse_silence(expression: &str) -> Result<SilenceSpec, AqlError> {
    let parsed = Parser::new(expression).expression()?;
    let shape = "a silence rule is `targets <selector>`";
    parsed.forbid("source", shape)?;
    parsed.forbid("excluding", shape)?;
    parsed.forbid("group by", shape)?;
    Ok(SilenceSpec { matchers: selector(parsed.targets) })
}

/// The canonical expression of a spec, which parses back to the same spec.
pub fn render_group(spec: &GroupSpec) -> String {
    join(&[section("excluding", &spec.exclusions), group_by(&spec.group_by)])
}

pub fn render_inhibit(spec: &InhibitSpec) -> String {
    join(&[
        section("source", &spec.source),
        section("targets", &spec.target),
        section("excluding", &spec.exclusions),
        group_by(&spec.equal),
    ])
}

pub fn render_silence(spec: &SilenceSpec) -> String {
    section("targets", &spec.matchers)
}

fn selector(part: Option<(usize, Selector)>) -> Selector {
    part.map(|(_, selector)| selector).unwrap_or_default()
}

/// The sections found, each with the position of its keyword.
#[derive(Default)]
struct Parsed {
    source: Option<(usize, Selector)>,
    targets: Option<(usize, Selector)>,
    excluding: Option<(usize, Selector)>,
    group_by: Option<(usize, Vec<Key>)>,
}

impl Parsed {
    fn forbid(&self, section: &str, shape: &str) -> Result<(), AqlError> {
        let position = match section {
            "source" => self.source.as_ref().map(|(p, _)| *p),
            "targets" => self.targets.as_ref().map(|(p, _)| *p),
            "excluding" => self.excluding.as_ref().map(|(p, _)| *p),
            _ => self.group_by.as_ref().map(|(p, _)| *p),
        };
        match position {
            Some(position) => Err(AqlError { message: format!("'{section}' is not allowed here: {shape}"), position }),
            None => Ok(()),
        }
    }
}

const SECTIONS: [&str; 4] = ["source", "targets", "excluding", "group"];

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

/// Characters that end a bare (unquoted) word.
fn is_delimiter(c: char) -> bool {
    matches!(c, '{' | '}' | ',' | '=' | '"') || c.is_control()
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        Parser { text, at: 0 }
    }

    fn error<T>(&self, position: usize, message: impl Into<String>) -> Result<T, AqlError> {
        Err(AqlError { message: message.into(), position })
    }

    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_whitespace(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.text.len() - trimmed.len();
    }

    /// A run of characters up to whitespace or a delimiter.
    fn word(&mut self) -> &'a str {
        let rest = self.rest();
        let end = rest.find(|c: char| c.is_whitespace() || is_delimiter(c)).unwrap_or(rest.len());
        self.at += end;
        &rest[..end]
    }

    fn expression(mut self) -> Result<Parsed, AqlError> {
        let mut parsed = Parsed::default();
        let mut last_section: Option<usize> = None;
        loop {
            self.skip_whitespace();
            if self.peek().is_none() {
                return Ok(parsed);
            }
            let start = self.at;
            let word = self.word();
            let Some(index) = SECTIONS.iter().position(|s| *s == word) else {
                let found = if word.is_empty() { self.peek().map(String::from).unwrap_or_default() } else { word.to_owned() };
                return self.error(start, format!("expected 'source', 'targets', 'excluding' or 'group by', found {found:?}"));
            };
            if let Some(last) = last_section {
                if index <= last {
                    let message = if index == last {
                        format!("'{}' appears twice", SECTIONS[index])
                    } else {
                        format!("'{}' must come before '{}': the order is source, targets, excluding, group by", SECTIONS[index], SECTIONS[last])
                    };
                    return self.error(start, message);
                }
            }
            last_section = Some(index);
            match index {
                0 => parsed.source = Some((start, self.selector(word)?)),
                1 => parsed.targets = Some((start, self.selector(word)?)),
                2 => parsed.excluding = Some((start, self.selector(word)?)),
                _ => {
                    self.skip_whitespace();
                    let by = self.at;
                    if self.word() != "by" {
                        return self.error(by, "expected 'by' after 'group'");
                    }
                    parsed.group_by = Some((start, self.keys()?));
                }
            }
        }
    }

    /// `metric_name`, `{k=v, ...}` or `metric_name{k=v, ...}` after a section keyword.
    fn selector(&mut self, section: &str) -> Result<Selector, AqlError> {
        self.skip_whitespace();
        let mut pairs: Selector = Vec::new();
        match self.peek() {
            None => return self.error(self.at, format!("'{section}' needs a selector: a metric name, {{key=value, ...}} or both")),
            Some('{') => {}
            Some(_) => {
                let start = self.at;
                let name = self.word();
                if name.is_empty() || SECTIONS.contains(&name) {
                    return self.error(start, format!("'{section}' needs a selector: a metric name, {{key=value, ...}} or both"));
                }
                if !name.starts_with(|c: char| c.is_alphabetic()) {
                    return self.error(start, format!("metric name {name:?} must start with a letter"));
                }
                pairs.push((Key::MetricName, name.to_owned()));
                let after_name = self.at;
                self.skip_whitespace();
                if self.peek() != Some('{') {
                    self.at = after_name;
                    return Ok(pairs);
                }
            }
        }
        let open = self.at;
        self.at += 1;
        self.skip_whitespace();
        if self.peek() == Some('}') {
            self.at += 1;
            return Ok(pairs);
        }
        loop {
            self.skip_whitespace();
            let key_at = self.at;
            let raw_key = self.atom("key")?;
            self.skip_whitespace();
            if self.peek() != Some('=') {
                return self.error(self.at, format!("expected '=' after key {raw_key:?}: pairs are written key=value"));
            }
            self.at += 1;
            self.skip_whitespace();
            let value = self.atom("value")?;
            let key = Key::parse(&raw_key);
            if pairs.iter().any(|(k, _)| *k == key) {
                return self.error(key_at, format!("duplicate key {:?} in one selector: a key can have only one value", key.canonical()));
            }
            pairs.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(',') => self.at += 1,
                Some('}') => {
                    self.at += 1;
                    return Ok(pairs);
                }
                None => return self.error(self.at, format!("expected '}}' to close the selector opened at character {open}")),
                Some(c) => return self.error(self.at, format!("expected ',' or '}}' after a pair, found {c:?}")),
            }
        }
    }

    /// A key or value: double-quoted (with `\"` and `\\`), or bare up to a delimiter, trimmed.
    fn atom(&mut self, what: &str) -> Result<String, AqlError> {
        let start = self.at;
        if self.peek() == Some('"') {
            self.at += 1;
            let mut text = String::new();
            let mut chars = self.rest().char_indices();
            while let Some((offset, c)) = chars.next() {
                match c {
                    '"' => {
                        self.at += offset + 1;
                        return Ok(text);
                    }
                    '\\' => match chars.next() {
                        Some((_, escaped @ ('"' | '\\'))) => text.push(escaped),
                        _ => return self.error(self.at + offset, "only \\\" and \\\\ may be escaped in a quoted string"),
                    },
                    c => text.push(c),
                }
            }
            return self.error(start, format!("the quoted {what} starting here is not closed"));
        }
        let rest = self.rest();
        let end = rest.find(is_delimiter).unwrap_or(rest.len());
        self.at += end;
        let text = rest[..end].trim();
        if text.is_empty() {
            return self.error(start, format!("expected a {what}"));
        }
        Ok(text.to_owned())
    }

    /// `k1, k2, ...` after `group by`, to the end of the expression. Keys here are single words
    /// (or quoted), so a section written after `group by` is reported as out of order.
    fn keys(&mut self) -> Result<Vec<Key>, AqlError> {
        let mut keys = Vec::new();
        loop {
            self.skip_whitespace();
            let start = self.at;
            let raw = if self.peek() == Some('"') { self.atom("key after 'group by'")? } else { self.word().to_owned() };
            if raw.is_empty() {
                return self.error(start, "expected a key after 'group by'");
            }
            let key = Key::parse(&raw);
            if keys.contains(&key) {
                return self.error(start, format!("key {:?} is listed twice in 'group by'", key.canonical()));
            }
            keys.push(key);
            self.skip_whitespace();
            let next = self.at;
            match self.peek() {
                Some(',') => self.at += 1,
                None => return Ok(keys),
                Some(c) => {
                    let word = self.word();
                    if SECTIONS.contains(&word) {
                        return self.error(next, format!("'{word}' must come before 'group by': the order is source, targets, excluding, group by"));
                    }
                    return self.error(next, format!("expected ',' or the end after a 'group by' key, found {:?}", if word.is_empty() { c.to_string() } else { word.to_owned() }));
                }
            }
        }
    }
}

fn needs_quotes(text: &str) -> bool {
    text.is_empty() || text.trim() != text || text.contains(is_delimiter) || text.contains('\\')
}

fn atom(text: &str) -> String {
    if needs_quotes(text) {
        quoted(text)
    } else {
        text.to_owned()
    }
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A `group by` key is a single word unless quoted, so inner whitespace needs quotes too (a
/// key like `"host name"` from the JSON form used to render as `group by host name`, which
/// does not parse back).
fn group_by_key(key: &Key) -> String {
    let text = key.canonical();
    if text.contains(char::is_whitespace) {
        quoted(text)
    } else {
        atom(text)
    }
}

fn render_selector(selector: &Selector) -> String {
    let mut pairs = selector.as_slice();
    let mut text = String::new();
    if let Some((Key::MetricName, name)) = pairs.first() {
        let bare = name.starts_with(|c: char| c.is_alphabetic())
            && !name.contains(|c: char| c.is_whitespace() || is_delimiter(c))
            && !SECTIONS.contains(&name.as_str());
        if bare {
            text.push_str(name);
            pairs = &pairs[1..];
            if pairs.is_empty() {
                return text;
            }
        }
    }
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", atom(k.canonical()), atom(v))).collect();
    text.push('{');
    text.push_str(&inner.join(", "));
    text.push('}');
    text
}

fn section(keyword: &str, selector: &Selector) -> String {
    if selector.is_empty() {
        String::new()
    } else {
        format!("{keyword} {}", render_selector(selector))
    }
}

fn group_by(keys: &[Key]) -> String {
    if keys.is_empty() {
        String::new()
    } else {
        format!("group by {}", keys.iter().map(group_by_key).collect::<Vec<_>>().join(", "))
    }
}

fn join(parts: &[String]) -> String {
    parts.iter().filter(|p| !p.is_empty()).cloned().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
