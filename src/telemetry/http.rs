//! The operator's HTTP endpoints: `/metrics` (Prometheus text), `/healthz` (ready: 200 only
//! while the config database and the broker answer, 503 naming what failed otherwise) and
//! `/livez` (the process is up).

use crate::db::Database;
use crate::kafka::Producer;
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
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router(metrics: Metrics, db: Database, producer: Producer) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(health))
        .route("/livez", get(|| async { Json(json!({"status": "ok"})) }))
        .with_state(Probe { metrics, db, producer })
}

async fn metrics_text(State(probe): State<Probe>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], probe.metrics.render_prometheus())
}

async fn health(State(probe): State<Probe>) -> impl IntoResponse {
    let database = match tokio::time::timeout(CHECK_TIMEOUT, probe.db.ping()).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {CHECK_TIMEOUT:?}"),
    };
    let producer = probe.producer.clone();
    let broker = match tokio::task::spawn_blocking(move || producer.check_broker(CHECK_TIMEOUT)).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    let ready = database == "ok" && broker == "ok";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({"status": if ready { "ok" } else { "unavailable" }, "database": database, "broker": broker})))
}
