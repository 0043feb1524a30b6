//! What one webhook post costs the sending side on loopback, with reqwest configured as the
//! webhook plugin configures it and with the bare hyper client reqwest is made of: the floor under the
//! HTTP share of a notification's CPU, and what a leaner request path than reqwest's could
//! save. A receiver on a runtime of its own answers every post at once; the client runs on
//! one worker thread, whose CPU (user and system, so the kernel's loopback TCP work for its
//! writes and reads included) is what is reported, per request. 16 posts in flight.
//!
//! `cargo bench --bench http_client` (env: HTTP_REQUESTS, default 50,000 per run; three rounds,
//! the clients alternating. BENCH_SHORT=1: 200 requests, one round, as CI runs it).

/// The allocator the `tocsin` binary uses (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/mod.rs"]
mod support;

use futures::StreamExt;
use std::time::{Duration, Instant};

/// An alarm's webhook body is about this long.
const BODY_BYTES: usize = 600;
const IN_FLIGHT: usize = 16;

fn main() {
    let short = std::env::var("BENCH_SHORT").is_ok_and(|v| v != "0");
    let requests: usize = std::env::var("HTTP_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(if short { 200 } else { 50_000 });
    let rounds = if short { 1 } else { 3 };

    let receiver = tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name("receiver").enable_all().build().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    receiver.spawn(async move {
        let listener = axum::serve::ListenerExt::tap_io(tokio::net::TcpListener::from_std(listener).unwrap(), |stream| {
            let _ = stream.set_nodelay(true);
        });
        axum::serve(listener, axum::Router::new().fallback(|_body: axum::body::Bytes| async { "ok" })).await.unwrap()
    });
    let client = tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name("client").enable_all().build().unwrap();
    let body = bytes::Bytes::from("x".repeat(BODY_BYTES));

    println!("http_client benchmark: {requests} posts of {BODY_BYTES} bytes per run, {IN_FLIGHT} in flight, loopback; the client thread's CPU per post");
    for _ in 0..rounds {
        for kind in ["reqwest, with the webhook plugin's timeout, pool and TCP_NODELAY", "hyper-util client"] {
            let (url, body) = (url.clone(), body.clone());
            let cpu_before = support::named_threads_cpu_seconds("client");
            let started = Instant::now();
            client.block_on(async move {
                let reqwest = reqwest::Client::builder().timeout(Duration::from_secs(5)).pool_max_idle_per_host(IN_FLIGHT).tcp_nodelay(true).build().unwrap();
                let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
                connector.set_nodelay(true);
                let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build::<_, http_body_util::Full<bytes::Bytes>>(connector);
                let uri: hyper::Uri = url.parse().unwrap();
                let posted = std::sync::atomic::AtomicUsize::new(0);
                futures::stream::iter(0..requests)
                    .for_each_concurrent(IN_FLIGHT, |_| async {
                        let ok = if kind.starts_with("reqwest") {
                            let answer = reqwest.post(url.as_str()).header("content-type", "application/json").body(body.clone()).send().await.unwrap();
                            let ok = answer.status().is_success();
                            answer.bytes().await.unwrap();
                            ok
                        } else {
                            let request = hyper::Request::post(uri.clone()).header("content-type", "application/json").body(http_body_util::Full::new(body.clone())).unwrap();
                            let answer = hyper.request(request).await.unwrap();
                            let ok = answer.status().is_success();
                            http_body_util::BodyExt::collect(answer.into_body()).await.unwrap();
                            ok
                        };
                        assert!(ok, "the receiver answers 200");
                        posted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    })
                    .await;
                assert_eq!(posted.into_inner(), requests);
            });
            let took = started.elapsed().as_secs_f64();
            let cpu = support::named_threads_cpu_seconds("client") - cpu_before;
            println!("  {kind}: {:.0} posts/s, {:.1} µs of client CPU per post", requests as f64 / took, cpu * 1e6 / requests as f64);
        }
    }
}
