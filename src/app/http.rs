//! The operator's HTTP endpoints: `/metrics` (Prometheus text), `/healthz` (ready: 200 only
//! while the config database and the broker answer and every record published was confirmed,
//! 503 saying which part is not) and `/livez` (the process is up).
//!
//! The listener may be reachable by tenants (it serves the API too), so `/healthz` answers in a
//! fixed vocabulary and never with an error's text, which can name hosts, users and databases:
//! the details are in the debug log, in `/metrics` and in `tocsin check-config --connect`.

use crate::db::Database;
use crate::kafka::Producer;
use crate::publish::Publisher;
use crate::telemetry::Metrics;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::time::Duration;

#[derive(Clone)]
struct Probe {
    metrics: Metrics,
    db: Database,
    producer: Producer,
    publisher: Publisher,
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router(metrics: Metrics, db: Database, producer: Producer, publisher: Publisher) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(health))
        .route("/livez", get(|| async { Json(json!({"status": "ok"})) }))
        .with_state(Probe { metrics, db, producer, publisher })
}

async fn metrics_text(State(probe): State<Probe>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], probe.metrics.render_prometheus())
}

async fn health(State(probe): State<Probe>) -> impl IntoResponse {
    let database = match tokio::time::timeout(CHECK_TIMEOUT, probe.db.ping()).await {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "health: the config database does not answer");
            "unavailable"
        }
        Err(_) => "timeout",
    };
    let producer = probe.producer.clone();
    let broker = match tokio::task::spawn_blocking(move || producer.check_broker(CHECK_TIMEOUT)).await {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "health: the broker does not answer");
            "unavailable"
        }
        Err(_) => "unavailable",
    };
    // A record the broker does not confirm holds its partition's commits (a dead-letter topic
    // that is missing, a topic the broker refuses to write): the instance is not doing its work.
    // Which topics: `tocsin_unconfirmed_records{topic}`.
    let publishing = if probe.publisher.unconfirmed().is_empty() { "ok" } else { "unconfirmed" };
    let ready = database == "ok" && broker == "ok" && publishing == "ok";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({"status": if ready { "ok" } else { "unavailable" }, "database": database, "broker": broker, "publishing": publishing});
    (status, Json(body))
}
