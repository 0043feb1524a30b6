//! The limiter against simulated receivers, in paused tokio time: every figure is exact.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

const PATIENCE: Duration = Duration::from_secs(2);

fn limiter(max: usize) -> Arc<Limiter> {
    Arc::new(Limiter::new(Settings { adaptive: true, max_per_destination: max }))
}

/// `sends` sends, `demand` of them wanting a slot at any time, each answered after
/// `latency(sends in progress when it started)` with `signal`. Returns the most in progress at once.
async fn drive(limiter: &Arc<Limiter>, sends: usize, demand: usize, latency: impl Fn(usize) -> Duration + Send + Sync + 'static) -> usize {
    let latency = Arc::new(latency);
    let in_progress = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..demand)
        .map(|_| {
            let (limiter, latency, in_progress, most, next) = (limiter.clone(), latency.clone(), in_progress.clone(), most.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::SeqCst) < sends {
                    let permit = limiter.acquire(PATIENCE).await.expect("no pause asked for");
                    let now = in_progress.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(latency(now)).await;
                    in_progress.fetch_sub(1, Ordering::SeqCst);
                    permit.finish(Signal::Answered);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    most.load(Ordering::SeqCst)
}

#[tokio::test(start_paused = true)]
async fn a_slow_receiver_that_keeps_up_gets_the_maximum_within_a_few_round_trips() {
    let limiter = limiter(64);
    let started = Instant::now();
    let most = drive(&limiter, 64 * 20, 200, |_| Duration::from_millis(200)).await;
    assert_eq!((most, limiter.limit()), (64, 64));
    // Slow start: 10, 20, 40, 64 in four round trips, then 64 at a time.
    let took = started.elapsed();
    assert!(took < Duration::from_millis(200 * (4 + 20)), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_receiver_that_queues_is_kept_near_its_capacity() {
    // Answers one request at a time in 10 ms: each request in progress adds 10 ms.
    let limiter = limiter(64);
    let most = drive(&limiter, 2_000, 200, |in_progress| Duration::from_millis(10) * in_progress as u32).await;
    assert!(limiter.limit() <= 3, "limit {}", limiter.limit());
    // One doubling past the initial limit before the queueing shows.
    assert!(most <= 2 * INITIAL_LIMIT, "{most} at once");
}

#[tokio::test(start_paused = true)]
async fn without_demand_the_limit_does_not_grow() {
    let limiter = limiter(64);
    drive(&limiter, 500, 4, |_| Duration::from_millis(5)).await;
    assert_eq!(limiter.limit(), INITIAL_LIMIT);
}

#[tokio::test(start_paused = true)]
async fn overload_halves_the_limit_and_retry_after_stops_sends_until_then() {
    let limiter = limiter(64);
    drive(&limiter, 64 * 10, 64, |_| Duration::from_millis(50)).await;
    assert_eq!(limiter.limit(), 64);

    limiter.acquire(PATIENCE).await.unwrap().finish(Signal::Overloaded { retry_after: None });
    assert_eq!(limiter.limit(), 32);
    limiter.acquire(PATIENCE).await.unwrap().finish(Signal::Overloaded { retry_after: Some(Duration::from_secs(5)) });
    assert_eq!(limiter.limit(), 16);

    let asked = Instant::now();
    let busy = limiter.acquire(PATIENCE).await.err().expect("a pause longer than the patience is refused at once");
    assert_eq!((busy.until, asked.elapsed()), (asked + Duration::from_secs(5), Duration::ZERO));
    let permit = limiter.acquire(Duration::from_secs(10)).await.expect("a pause within the patience is waited out");
    assert_eq!(asked.elapsed(), Duration::from_secs(5));
    permit.finish(Signal::Answered);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_is_honoured_for_at_most_the_bound() {
    let limiter = limiter(4);
    let asked = Instant::now();
    limiter.acquire(PATIENCE).await.unwrap().finish(Signal::Overloaded { retry_after: Some(Duration::from_secs(86_400)) });
    let busy = limiter.acquire(PATIENCE).await.err().unwrap();
    assert_eq!(busy.until, asked + MAX_RETRY_AFTER);
}

#[tokio::test(start_paused = true)]
async fn a_cut_waits_for_sends_in_progress_and_a_cancelled_send_frees_its_slot() {
    let limiter = limiter(8);
    drive(&limiter, 200, 8, |_| Duration::from_millis(20)).await;
    assert_eq!(limiter.limit(), 8);
    let held: Vec<Permit> = futures::future::join_all((0..8).map(|_| limiter.acquire(PATIENCE))).await.into_iter().map(Result::unwrap).collect();
    let mut held = held.into_iter();
    held.next().unwrap().finish(Signal::Overloaded { retry_after: None });
    assert_eq!(limiter.limit(), 4);
    // Seven still in progress against a limit of four: no slot until four of them are done.
    for permit in held.by_ref().take(3) {
        drop(permit);
    }
    assert!(tokio::time::timeout(Duration::from_secs(1), limiter.acquire(PATIENCE)).await.is_err(), "a slot beyond the cut limit");
    drop(held.next());
    let permit = tokio::time::timeout(Duration::from_secs(1), limiter.acquire(PATIENCE)).await.expect("a slot once fewer than four are in progress");
    drop(permit);
}

#[tokio::test(start_paused = true)]
async fn without_adaptation_every_destination_gets_the_maximum() {
    let limiter = Arc::new(Limiter::new(Settings { adaptive: false, max_per_destination: 16 }));
    assert_eq!(limiter.limit(), 16);
    let most = drive(&limiter, 400, 100, |in_progress| Duration::from_millis(10) * in_progress as u32).await;
    assert_eq!((most, limiter.limit()), (16, 16));
}

#[tokio::test(start_paused = true)]
async fn idle_destinations_are_forgotten_when_too_many_are_known() {
    let limiters = Limiters::new(Settings { adaptive: true, max_per_destination: 8 });
    let busy = limiters.get("busy:443");
    let _in_progress = busy.acquire(PATIENCE).await.unwrap();
    for n in 1..MAX_DESTINATIONS {
        limiters.get(&format!("host{n}:80"));
    }
    assert_eq!(limiters.by_destination.lock().unwrap().len(), MAX_DESTINATIONS);
    limiters.get("one-more:80");
    let known: Vec<String> = limiters.by_destination.lock().unwrap().keys().cloned().collect();
    assert_eq!(known.len(), 2, "only the destination with a send in progress is kept, and the new one");
    assert!(Arc::ptr_eq(&limiters.get("busy:443"), &busy), "a busy destination keeps what it learnt");
}
