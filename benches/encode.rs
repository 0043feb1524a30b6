//! The CPU a notification costs Tocsin apart from its I/O: decoding the alarm message, rendering
//! the webhook body and rendering the sent record, each timed alone and together, on the
//! pipeline benchmark's alarm message. Single-threaded and without a broker, so its figures
//! move only when this code does (the pipeline benchmark's CPU figures vary by 15 % between
//! identical runs on a shared machine): the way to measure a change to these stages.
//!
//! `cargo bench --bench encode` (env: ENCODE_ALARMS, default 20,000 per repetition; ENCODE_ROUNDS,
//! default 9; BENCH_SHORT=1: 200 alarms, 3 repetitions, as CI runs it). Prints the median and
//! the fastest repetition, in nanoseconds per alarm.

/// The allocator the `tocsin` binary uses (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;
use tocsin::model::{Notification, NotificationMethod};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let short = env("BENCH_SHORT", 0) > 0;
    let per_round = env("ENCODE_ALARMS", if short { 200 } else { 20_000 });
    let rounds = env("ENCODE_ROUNDS", if short { 3 } else { 9 });
    let messages: Vec<String> = (0..1000).map(|i| support::alarm_message(i, &format!("host-{}", i % 500), "bench", 1_764_800_000_000 + i as u64)).collect();
    let method = NotificationMethod { id: "bench-hook".into(), kind: "webhook".into(), name: Some("bench".into()), address: Some("http://127.0.0.1:8080/hook".into()), period: 0 };
    let notifications: Vec<Notification> = messages
        .iter()
        .map(|m| {
            let mut n = Notification::new(method.clone(), Arc::new(tocsin::ingest::decode_for_sending(Some(m.as_bytes()), usize::MAX).unwrap()));
            n.notification_timestamp = Some(1_764_800_001.25);
            n
        })
        .collect();

    let decode = || {
        for i in 0..per_round {
            black_box(tocsin::ingest::decode_for_sending(Some(messages[i % messages.len()].as_bytes()), usize::MAX).unwrap());
        }
    };
    let body = || {
        for i in 0..per_round {
            black_box(tocsin::pyjson::to_string(&tocsin::plugins::standard_body(&notifications[i % notifications.len()])));
        }
    };
    let record = || {
        for i in 0..per_round {
            black_box(tocsin::publish::notification_json(&notifications[i % notifications.len()]));
        }
    };
    // What a sent webhook notification does with its alarm, in the order the engine does it.
    let together = || {
        for i in 0..per_round {
            let alarm = tocsin::ingest::decode_for_sending(Some(messages[i % messages.len()].as_bytes()), usize::MAX).unwrap();
            let mut n = Notification::new(method.clone(), Arc::new(alarm));
            n.notification_timestamp = Some(1_764_800_001.25);
            black_box(tocsin::pyjson::to_string(&tocsin::plugins::standard_body(&n)));
            black_box(tocsin::publish::notification_json(&n));
        }
    };
    println!("encode benchmark: {per_round} alarms per repetition, {rounds} repetitions, one thread; ns per alarm");
    for (name, stage) in [("decode", &decode as &dyn Fn()), ("webhook body", &body), ("sent record", &record), ("all three, one alarm at a time", &together)] {
        stage(); // warm-up
        let mut times: Vec<f64> = (0..rounds)
            .map(|_| {
                let started = Instant::now();
                stage();
                started.elapsed().as_nanos() as f64 / per_round as f64
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("  {name}: median {:.0} ns, fastest {:.0} ns", times[times.len() / 2], times[0]);
    }
}
