//! Reads a configuration file into sections of `key = value` entries that remember their line,
//! so every later error can name the file, line and key at fault.
//!
//! Two syntaxes reach the same form: the oslo.config INI dialect of monasca-notification
//! (`key = value` or `key: value`, `#`/`;` comments, indented continuation lines, last
//! assignment wins) and TOML, whose lists and tables are flattened into oslo's `a,b` and
//! `k:v,k:v` text. This module knows no option names.

use super::reader::Error;
use std::path::{Path, PathBuf};

/// One assignment of a file.
#[derive(Clone, Debug)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// All assignments of a file, in file order.
#[derive(Clone, Debug, Default)]
pub struct Source {
    pub file: PathBuf,
    /// `(section, entry)` pairs; a section appears once per assignment in it.
    pub entries: Vec<(String, Entry)>,
}

impl Source {
    pub fn read(file: &Path) -> Result<Source, Error> {
        let text = std::fs::read_to_string(file)
            .map_err(|source| Error::Read { file: file.to_owned(), source })?;
        let is_toml = file.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("toml"));
        if is_toml {
            parse_toml(file, &text)
        } else {
            parse_ini(file, &text)
        }
    }

    /// The effective (last) assignment of `key` in `section`.
    pub fn get(&self, section: &str, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|(s, e)| s == section && e.key == key)
            .map(|(_, e)| e)
    }

    /// The effective assignments of a section, first-assigned order, one per key.
    pub fn section(&self, section: &str) -> Vec<&Entry> {
        let mut out: Vec<&Entry> = Vec::new();
        for (_, entry) in self.entries.iter().filter(|(s, _)| s == section) {
            match out.iter_mut().find(|e| e.key == entry.key) {
                Some(slot) => *slot = entry,
                None => out.push(entry),
            }
        }
        out
    }
}

pub fn parse_ini(file: &Path, text: &str) -> Result<Source, Error> {
    let mut source = Source { file: file.to_owned(), entries: Vec::new() };
    let mut section: Option<String> = None;
    for (index, raw_line) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw_line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = raw_line.starts_with([' ', '\t']);
        if indented {
            if let Some((_, entry)) = source.entries.last_mut().filter(|(s, _)| Some(s) == section.as_ref()) {
                if !entry.value.is_empty() {
                    entry.value.push('\n');
                }
                entry.value.push_str(trimmed);
                continue;
            }
        }
        if let Some(name) = trimmed.strip_prefix('[') {
            let name = name.strip_suffix(']').ok_or_else(|| Error::Syntax {
                file: file.to_owned(),
                line,
                message: format!("section header {trimmed:?} has no closing ']'"),
            })?;
            section = Some(name.trim().to_owned());
            continue;
        }
        let Some(split) = trimmed.find(['=', ':']) else {
            return Err(Error::Syntax {
                file: file.to_owned(),
                line,
                message: format!("expected 'key = value' or a [section] header, found {trimmed:?}"),
            });
        };
        let key = trimmed[..split].trim();
        if key.is_empty() {
            return Err(Error::Syntax { file: file.to_owned(), line, message: "assignment has no key".into() });
        }
        let Some(section) = section.clone() else {
            return Err(Error::Syntax {
                file: file.to_owned(),
                line,
                message: format!("option {key:?} comes before any [section] header"),
            });
        };
        let value = trimmed[split + 1..].trim().to_owned();
        source.entries.push((section, Entry { key: key.replace('-', "_"), value, line }));
    }
    Ok(source)
}

pub fn parse_toml(file: &Path, text: &str) -> Result<Source, Error> {
    use std::collections::BTreeMap;
    use toml::Spanned;
    type Tables = BTreeMap<Spanned<String>, Spanned<toml::Value>>;
    let syntax = |line: usize, message: String| Error::Syntax { file: file.to_owned(), line, message };
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let document: Tables = toml::from_str(text).map_err(|e| {
        let start = e.span().map_or(0, |span| span.start.min(text.len()));
        // Some errors come without a message (a key with no value, `url = `): say where instead.
        let message = match e.message() {
            "" => format!("not valid TOML at column {}", text[..start].rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1),
            message => message.to_owned(),
        };
        syntax(line_of(start), message)
    })?;
    let mut source = Source { file: file.to_owned(), entries: Vec::new() };
    let mut ordered: Vec<_> = document.into_iter().collect();
    ordered.sort_by_key(|(name, _)| name.span().start);
    for (name, table) in ordered {
        let line = line_of(name.span().start);
        let toml::Value::Table(table) = table.into_inner() else {
            return Err(syntax(line, format!("top-level key {:?} must be a [section] table", name.get_ref())));
        };
        // Spans of values inside a plain `toml::Table` are lost, so entries report their section's
        // line plus the key's position found in the text.
        for (key, value) in table {
            let key_line = find_key_line(text, line, &key).unwrap_or(line);
            let value = flatten(&value).map_err(|message| syntax(key_line, format!("{key}: {message}")))?;
            source
                .entries
                .push((name.get_ref().clone(), Entry { key: key.replace('-', "_"), value, line: key_line }));
        }
    }
    Ok(source)
}

/// The first line at or after `from` that assigns `key`.
fn find_key_line(text: &str, from: usize, key: &str) -> Option<usize> {
    text.lines().enumerate().skip(from - 1).find_map(|(i, l)| {
        let l = l.trim_start();
        let rest = l.strip_prefix(key).or_else(|| l.strip_prefix(&format!("\"{key}\"")))?;
        rest.trim_start().starts_with('=').then_some(i + 1)
    })
}

fn flatten(value: &toml::Value) -> Result<String, String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(items) => items.iter().map(flatten).collect::<Result<Vec<_>, _>>()?.join(","),
        toml::Value::Table(table) => table
            .iter()
            .map(|(k, v)| flatten(v).map(|v| format!("{k}:{v}")))
            .collect::<Result<Vec<_>, _>>()?
            .join(","),
    })
}
