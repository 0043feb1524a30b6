//! A StatsD client that speaks monasca-statsd's dialect: names prefixed `monasca.`, dimensions
//! as a Python dict literal (`|#{'service': 'monitoring', ...}`, the form monasca-agent parses),
//! timers as gauges in seconds.
//!
//! Values are aggregated in memory and sent once per flush interval (counters summed, timers
//! averaged), so the hot path never makes a system call: one packet per metric per interval
//! instead of one per event. A gauge is last-value-wins at the agent, so the average of an
//! interval carries at least as much as the last sample Monasca would have sent.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::Mutex;

const DIMENSIONS: &str = "#{'service': 'monitoring', 'component': 'monasca-notification'}";

#[derive(Default)]
pub struct Aggregator {
    /// std mutex: held for a map update only, never across an await.
    pending: Mutex<HashMap<String, Pending>>,
}

enum Pending {
    Count(i64),
    /// Sum of seconds and number of samples.
    Timing(f64, u64),
}

impl Aggregator {
    pub fn count(&self, name: &str, n: i64) {
        let mut pending = self.pending.lock().expect("statsd lock poisoned");
        match pending.get_mut(name) {
            Some(Pending::Count(total)) => *total += n,
            _ => {
                pending.insert(name.to_owned(), Pending::Count(n));
            }
        }
    }

    pub fn timing(&self, name: &str, seconds: f64) {
        let mut pending = self.pending.lock().expect("statsd lock poisoned");
        match pending.get_mut(name) {
            Some(Pending::Timing(sum, n)) => {
                *sum += seconds;
                *n += 1;
            }
            _ => {
                pending.insert(name.to_owned(), Pending::Timing(seconds, 1));
            }
        }
    }

    /// Takes what accumulated since the last call, as wire lines.
    pub fn drain(&self) -> Vec<String> {
        let pending = std::mem::take(&mut *self.pending.lock().expect("statsd lock poisoned"));
        let mut lines: Vec<String> = pending
            .into_iter()
            .map(|(name, value)| match value {
                Pending::Count(n) => format!("monasca.{name}:{n}|c|{DIMENSIONS}"),
                Pending::Timing(sum, n) => {
                    format!("monasca.{name}:{}|g|{DIMENSIONS}", crate::pyjson::python_float_repr(sum / n as f64))
                }
            })
            .collect();
        lines.sort();
        lines
    }

    /// Sends each line as its own datagram; StatsD loss is tolerated by design, so errors are
    /// returned for logging only.
    pub fn flush(&self, socket: &UdpSocket, target: &str) -> std::io::Result<()> {
        let mut result = Ok(());
        for line in self.drain() {
            if let Err(e) = socket.send_to(line.as_bytes(), target) {
                result = Err(e);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_and_timers_average_in_monasca_wire_format() {
        let agg = Aggregator::default();
        agg.count("alarms_finished_count", 1);
        agg.count("alarms_finished_count", 2);
        agg.timing("webhook_time", 0.25);
        agg.timing("webhook_time", 0.75);
        assert_eq!(
            agg.drain(),
            vec![
                "monasca.alarms_finished_count:3|c|#{'service': 'monitoring', 'component': 'monasca-notification'}",
                "monasca.webhook_time:0.5|g|#{'service': 'monitoring', 'component': 'monasca-notification'}",
            ]
        );
        assert!(agg.drain().is_empty(), "a flush resets the interval");
    }
}
