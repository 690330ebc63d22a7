//! The observing layer around the request path: after each answer it keeps the exchange in
//! the request journal, counts it in the metrics, and, with `--access-log`, writes one
//! access-log line (target `understudy::access`, credentials redacted; off by default: the
//! line costs about as much CPU as answering a cached read). Admin calls (`/__understudy/...`) are none of
//! these: the journal shows what clients of the APIs did.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tower::{Layer, Service};

use super::journal::{self, Exchange};
use super::service::{HttpRequest, HttpResponse};
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
    S::Future: Unpin,
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: HttpRequest) -> Observed<S::Future> {
        if super::route::under(req.uri().path(), admin::PREFIX).is_some() {
            return Observed {
                inner: self.inner.call(req),
                seen: None,
            };
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
        Observed {
            inner: self.inner.call(req),
            seen: Some((self.engine.clone(), seen)),
        }
    }
}

/// The future of [`Observe`]: the inner service's answer, recorded when it is ready (a
/// struct rather than a boxed `async` block: one allocation less per request).
pub struct Observed<F> {
    inner: F,
    /// What to record it with; taken when it is recorded (none for the admin API).
    seen: Option<(Arc<Engine>, Seen)>,
}

impl<F> Future for Observed<F>
where
    F: Future<Output = Result<HttpResponse, Infallible>> + Unpin,
{
    type Output = Result<HttpResponse, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let resp = match Pin::new(&mut this.inner).poll(cx) {
            Poll::Ready(Ok(resp)) => resp,
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => return Poll::Pending,
        };
        if let Some((engine, seen)) = this.seen.take() {
            observe(&engine, seen, &resp);
        }
        Poll::Ready(Ok(resp))
    }
}

/// Record one answered request everywhere it is recorded.
fn observe(engine: &Engine, seen: Seen, resp: &HttpResponse) {
    let latency = seen.start.elapsed();
    let status = resp.status().as_u16();
    let reply = resp.body();
    let answered = reply.answered.as_ref();
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
            response_body: journal.cut_response(&reply.bytes),
            response_size: reply.bytes.len(),
            latency,
            delay: reply.pacing.delay,
            dropped: reply.pacing.drop,
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
