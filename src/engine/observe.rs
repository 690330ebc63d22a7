//! The observing layer around the request path: after each answer it keeps the exchange in
//! the request journal, counts it in the metrics, and, with `--access-log`, writes one
//! access-log line (target `understudy::access`, credentials redacted; off by default: the
//! line costs about as much CPU as answering a cached read). Admin calls (`/__understudy/...`) are none of
//! these: the journal shows what clients of the APIs did.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tower::{Layer, Service};

use super::journal::{self, Exchange};
use super::service::{Answer, HttpRequest, HttpResponse, Pacing};
use super::{Answered, Engine, OpName, SESSION_HEADER, admin};

/// The tracing target of access-log lines (`RUST_LOG=understudy::access=off` silences them).
pub const ACCESS_TARGET: &str = "understudy::access";

/// Wraps a service with the journal, metrics and access log of `engine`.
#[derive(Clone)]
pub struct ObserveLayer {
    engine: Arc<Engine>,
}

impl ObserveLayer {
    pub fn new(engine: Arc<Engine>) -> Self {
        ObserveLayer { engine }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            engine: self.engine.clone(),
            inner,
        }
    }
}

/// The service [`ObserveLayer`] makes.
#[derive(Clone)]
pub struct Observe<S> {
    engine: Arc<Engine>,
    inner: S,
}

/// What is taken from a request before the handler consumes it.
struct Seen {
    start: Instant,
    at_ms: i64,
    method: http::Method,
    /// The path and query, headers and body (cut) copied for the journal, only when it keeps
    /// anything.
    kept: Option<(journal::Target, journal::Headers, bytes::Bytes, usize)>,
    /// For the access log, only when it is on: the request's URI and its session header.
    access: Option<(http::Uri, Option<http::HeaderValue>)>,
}

impl<S> Service<HttpRequest> for Observe<S>
where
    S: Service<HttpRequest, Response = HttpResponse, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: HttpRequest) -> Answer {
        if super::route::under(req.uri().path(), admin::PREFIX).is_some() {
            return Box::pin(self.inner.call(req));
        }
        let journal = self.engine.journal();
        let seen = Seen {
            start: Instant::now(),
            at_ms: journal::wall_ms(),
            method: req.method().clone(),
            kept: journal.on().then(|| {
                (
                    journal::Target::of(req.uri()),
                    journal::Headers::of(req.headers()),
                    journal::cut(req.body(), journal.limits().body),
                    req.body().len(),
                )
            }),
            access: self.engine.access_log().then(|| {
                (
                    req.uri().clone(),
                    req.headers().get(SESSION_HEADER).cloned(),
                )
            }),
        };
        let engine = self.engine.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            observe(&engine, seen, &resp);
            Ok(resp)
        })
    }
}

/// Record one answered request everywhere it is recorded.
fn observe(engine: &Engine, seen: Seen, resp: &HttpResponse) {
    let latency = seen.start.elapsed();
    let status = resp.status().as_u16();
    let answered = resp.extensions().get::<Answered>();
    engine
        .metrics()
        .observe(answered, status, latency.as_secs_f64());
    let op = answered.and_then(|a| engine.op_name(a));
    if let Some((uri, session)) = &seen.access
        && tracing::enabled!(target: ACCESS_TARGET, tracing::Level::INFO)
    {
        let line = Line {
            method: &seen.method,
            uri,
            session: session.as_ref(),
            status,
            latency,
        };
        access_line(engine, &line, answered, op.as_deref());
    }
    if let Some((target, headers, body, body_size)) = seen.kept {
        let journal = engine.journal();
        let pacing = resp.extensions().get::<Pacing>();
        journal.record(Exchange {
            seq: 0,
            at_ms: seen.at_ms,
            method: seen.method,
            target,
            headers,
            body,
            body_size,
            status,
            response_headers: journal::Headers::of(resp.headers()),
            response_body: journal.cut_response(resp.body()),
            response_size: resp.body().len(),
            latency,
            delay: pacing.and_then(|p| p.delay),
            dropped: pacing.is_some_and(|p| p.drop),
            answered: answered.cloned(),
            op,
        });
    }
}

/// What an access-log line says of the request and its answer.
struct Line<'a> {
    method: &'a http::Method,
    uri: &'a http::Uri,
    session: Option<&'a http::HeaderValue>,
    status: u16,
    latency: std::time::Duration,
}

/// The access-log line of one request: structured fields, credentials redacted.
fn access_line(engine: &Engine, seen: &Line<'_>, answered: Option<&Answered>, op: Option<&OpName>) {
    let (status, latency) = (seen.status, seen.latency);
    let operation = op.map(OpName::label);
    let query = engine.redactor().query(seen.uri.query().unwrap_or(""));
    let session = seen
        .session
        .and_then(|v| v.to_str().ok())
        .unwrap_or(crate::scenario::session::DEFAULT_SESSION);
    tracing::info!(
        target: ACCESS_TARGET,
        method = seen.method.as_str(),
        path = seen.uri.path(),
        query = query.as_str(),
        status,
        ms = format_args!("{:.3}", latency.as_secs_f64() * 1000.0),
        api = op.map_or("", |o| &*o.api),
        operation = operation.as_deref().unwrap_or(""),
        session,
        scenario = answered
            .and_then(|a| a.scripted.as_ref())
            .map_or("", |s| s.scenario.as_str()),
        "{} {} {}",
        seen.method,
        seen.uri.path(),
        status
    );
}
