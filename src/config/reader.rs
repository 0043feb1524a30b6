//! Typed access to a [`Source`]: every getter parses one option in oslo.config's syntax and, on
//! failure, returns an error naming file, line, section and key. Every option read is recorded,
//! so what was never read can be reported once at start-up.

use super::source::{Entry, Source};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A configuration that cannot be used, and where it is wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot read the configuration file: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{}:{line}: {message}", file.display())]
    Syntax { file: PathBuf, line: usize, message: String },
    #[error("{}{}: [{section}] {key}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid { file: PathBuf, line: Option<usize>, section: String, key: String, message: String },
}

pub struct Reader<'a> {
    source: &'a Source,
    read: RefCell<BTreeSet<(String, String)>>,
}

impl<'a> Reader<'a> {
    pub fn new(source: &'a Source) -> Reader<'a> {
        Reader { source, read: RefCell::new(BTreeSet::new()) }
    }

    /// Looks an option up and marks it as read.
    pub fn entry(&self, section: &str, key: &str) -> Option<&'a Entry> {
        self.read.borrow_mut().insert((section.to_owned(), key.to_owned()));
        self.source.get(section, key)
    }

    /// Every option of a section, marked as read (for pass-through sections).
    pub fn all(&self, section: &str) -> Vec<(String, String)> {
        self.source
            .section(section)
            .into_iter()
            .map(|e| {
                self.read.borrow_mut().insert((section.to_owned(), e.key.clone()));
                (e.key.clone(), e.value.clone())
            })
            .collect()
    }

    /// Assignments no getter asked for: `(section, key, line)`.
    pub fn unread(&self) -> Vec<(String, String, usize)> {
        let read = self.read.borrow();
        let mut seen = BTreeSet::new();
        self.source
            .entries
            .iter()
            .filter(|(s, e)| !read.contains(&(s.clone(), e.key.clone())) && seen.insert((s.clone(), e.key.clone())))
            .map(|(s, e)| (s.clone(), e.key.clone(), e.line))
            .collect()
    }

    /// An error naming the option's file, line (when it is set) and key.
    pub fn invalid(&self, section: &str, key: &str, message: impl Into<String>) -> Error {
        Error::Invalid {
            file: self.source.file.clone(),
            line: self.source.get(section, key).map(|e| e.line),
            section: section.to_owned(),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    fn parse<T>(&self, section: &str, key: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<Option<T>, Error> {
        match self.entry(section, key) {
            None => Ok(None),
            Some(entry) => parse(&entry.value)
                .map(Some)
                .map_err(|message| self.invalid(section, key, message)),
        }
    }

    pub fn string(&self, section: &str, key: &str, default: &str) -> String {
        self.opt_string(section, key).unwrap_or_else(|| default.to_owned())
    }

    /// A string option; an empty value counts as unset, as oslo.config's `None` defaults do.
    pub fn opt_string(&self, section: &str, key: &str) -> Option<String> {
        self.entry(section, key).map(|e| e.value.clone()).filter(|v| !v.is_empty())
    }

    pub fn int(&self, section: &str, key: &str, default: i64, min: i64) -> Result<i64, Error> {
        Ok(self.opt_int(section, key, min)?.unwrap_or(default))
    }

    pub fn opt_int(&self, section: &str, key: &str, min: i64) -> Result<Option<i64>, Error> {
        self.parse(section, key, |v| {
            let n: i64 = v.parse().map_err(|_| format!("expected a whole number, found {v:?}"))?;
            if n < min {
                return Err(format!("must be at least {min}, found {n}"));
            }
            // Counts, sizes and seconds all fit here; larger values only overflow where they
            // become capacities or deadlines.
            if n > MAX_INT {
                return Err(format!("must be at most {MAX_INT}, found {n}"));
            }
            Ok(n)
        })
    }

    /// A decimal number within `[min, max]`.
    pub fn float(&self, section: &str, key: &str, default: f64, min: f64, max: f64) -> Result<f64, Error> {
        Ok(self
            .parse(section, key, |v| {
                let n: f64 = v.parse().map_err(|_| format!("expected a number, found {v:?}"))?;
                if !(min..=max).contains(&n) {
                    return Err(format!("must be between {min} and {max}, found {n}"));
                }
                Ok(n)
            })?
            .unwrap_or(default))
    }

    pub fn bool(&self, section: &str, key: &str, default: bool) -> Result<bool, Error> {
        Ok(self
            .parse(section, key, |v| match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(true),
                "false" | "no" | "off" | "0" => Ok(false),
                _ => Err(format!("expected true or false, found {v:?}")),
            })?
            .unwrap_or(default))
    }

    /// A comma-separated list (oslo `ListOpt`).
    pub fn list(&self, section: &str, key: &str, default: &[&str]) -> Vec<String> {
        match self.entry(section, key) {
            None => default.iter().map(|s| (*s).to_owned()).collect(),
            Some(entry) => split_list(&entry.value),
        }
    }

    /// `k1:v1,k2:v2` (oslo `DictOpt`), in file order.
    pub fn dict(&self, section: &str, key: &str, default: &[(&str, &str)]) -> Result<Vec<(String, String)>, Error> {
        Ok(self
            .parse(section, key, |v| {
                split_list(v)
                    .into_iter()
                    .map(|item| match item.split_once(':') {
                        Some((k, v)) => Ok((k.trim().to_owned(), v.trim().to_owned())),
                        None => Err(format!("expected key:value pairs separated by commas, found {item:?}")),
                    })
                    .collect()
            })?
            .unwrap_or_else(|| default.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()))
    }

    /// A duration: a number of seconds (`2.5`) or a number with a unit (`500ms`, `30s`, `5m`, `1h`).
    pub fn duration(&self, section: &str, key: &str, default: Duration) -> Result<Duration, Error> {
        Ok(self.parse(section, key, parse_duration)?.unwrap_or(default))
    }

    /// A duration that paces a ticker, so more than zero.
    pub fn interval(&self, section: &str, key: &str, default: Duration) -> Result<Duration, Error> {
        let interval = self.parse(section, key, |v| match parse_duration(v)? {
            Duration::ZERO => Err(format!("must be more than 0, found {v:?}")),
            interval => Ok(interval),
        })?;
        Ok(interval.unwrap_or(default))
    }

    /// A whole number of seconds from 1 to [`MAX_DURATION`]'s (the plugins' `timeout` options).
    pub fn seconds(&self, section: &str, key: &str, default: u64) -> Result<Duration, Error> {
        let max = MAX_DURATION.as_secs() as i64;
        let seconds = self.parse(section, key, |v| {
            let n: i64 = v.parse().map_err(|_| format!("expected a whole number, found {v:?}"))?;
            match n {
                n if n < 1 => Err(format!("must be at least 1, found {n}")),
                n if n > max => Err(format!("must be at most {max} seconds (100 years), found {n}")),
                n => Ok(n),
            }
        })?;
        Ok(Duration::from_secs(seconds.map_or(default, |s| s as u64)))
    }

    pub fn socket_addr(&self, section: &str, key: &str, default: &str) -> Result<SocketAddr, Error> {
        let parsed = self.parse(section, key, |v| {
            v.parse::<SocketAddr>()
                .map_err(|_| format!("expected an address like 127.0.0.1:8080, found {v:?}"))
        })?;
        Ok(parsed.unwrap_or_else(|| default.parse().expect("defaults are valid addresses")))
    }
}

pub fn split_list(value: &str) -> Vec<String> {
    value
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split = value.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("expected a duration like 30, 2.5s, 500ms, 5m, 1h or 7d, found {value:?}"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        other => return Err(format!("unknown duration unit {other:?} (use ms, s, m, h or d)")),
    };
    Duration::try_from_secs_f64(number * scale)
        .ok()
        .filter(|duration| *duration <= MAX_DURATION)
        .ok_or_else(|| format!("duration {value:?} is out of range: at most 100 years"))
}

/// The largest whole number an option takes: the seconds of [`MAX_DURATION`].
const MAX_INT: i64 = MAX_DURATION.as_secs() as i64;

/// The longest time span an option takes, 100 years (36525 days): the engines add these to the
/// clock for deadlines and ticks, and the lookup cache refuses a TTL past 1000 years, so a
/// longer value (`9223372036854775807`, accepted as seconds) would panic at start or shutdown.
pub const MAX_DURATION: Duration = Duration::from_secs(36_525 * 86_400);

