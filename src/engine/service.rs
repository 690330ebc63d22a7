//! The request path as tower services over the `http` crate's types, so that the server (and
//! anything else that speaks `tower`) sees one `Service<http::Request<Bytes>>`:
//!
//! - [`Handler`] answers with the engine, off the async workers when the answer may scan a
//!   large collection (a bounded number of such scans at once), and turns a panic (a bug) into
//!   a 500 in the API's shape;
//! - [`StrictLayer`] wraps a service with `--strict`: an answer that would break its
//!   operation's contract is logged and replaced by a 500.
//!
//! Checks and records that hold for every answer are layers, not code inside the handler
//! (the journal, metrics and access log: [`super::observe`]). A response's body is a [`ReplyBody`]:
//! its bytes, with what the layers and the server need beside them, typed: [`Answered`] (which
//! operation answered) and [`Pacing`] (a scenario's delay or dropped connection). (The
//! response's `http::Extensions` would carry them as well, at two allocations per answer.)

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;
use tower::util::{Either, option_layer};
use tower::{Layer, Service};

use super::{Answered, Engine, Request, Response};

/// A request as the services take it.
pub type HttpRequest = http::Request<Bytes>;
/// A response as the services give it.
pub type HttpResponse = http::Response<ReplyBody>;

/// A response's body as the services give it: the bytes sent, and what the layers around the
/// handler and the server read about the answer.
#[derive(Debug)]
pub struct ReplyBody {
    pub bytes: Bytes,
    /// Which operation answered, when one did.
    pub answered: Option<Answered>,
    /// How a scenario asked the answer to be delivered.
    pub pacing: Pacing,
}
/// The future a service here returns when it must wait (a scan, a layer's check).
pub type Answer = Pin<Box<dyn Future<Output = Result<HttpResponse, Infallible>> + Send>>;

/// The handler's future: most answers are made in the call itself and are ready at once (no
/// box); an answer that scans a large collection waits for a blocking thread.
pub enum Handled {
    Now(std::future::Ready<Result<HttpResponse, Infallible>>),
    Later(Answer),
}

impl Future for Handled {
    type Output = Result<HttpResponse, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Handled::Now(r) => Pin::new(r).poll(cx),
            Handled::Later(f) => f.as_mut().poll(cx),
        }
    }
}

/// How a scenario asked the answer to be delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pacing {
    /// Wait this long before answering.
    pub delay: Option<Duration>,
    /// Close the connection instead of answering.
    pub drop: bool,
}

/// An `http` response from the engine's, its body a [`ReplyBody`].
pub fn response_of(r: Response) -> HttpResponse {
    let reply = ReplyBody {
        bytes: r.body,
        answered: r.answered,
        pacing: Pacing {
            delay: r.delay,
            drop: r.drop,
        },
    };
    let mut out = http::Response::new(reply);
    *out.status_mut() =
        http::StatusCode::from_u16(r.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    *out.headers_mut() = r.headers;
    out
}

/// The innermost service: the engine's answer.
#[derive(Clone)]
pub struct Handler {
    engine: Arc<Engine>,
    /// Permits for answers that may scan a large collection.
    scans: Arc<Semaphore>,
}

impl Handler {
    /// A handler running at most `max_scans` large scans at once.
    pub fn new(engine: Arc<Engine>, max_scans: usize) -> Self {
        Handler {
            engine,
            scans: Arc::new(Semaphore::new(max_scans.max(1))),
        }
    }
}

/// The engine's answer; a panic (a bug) becomes a 500 in the API's shape.
fn answer(engine: &Engine, req: &Request) -> Response {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.answer(req))).unwrap_or_else(
        |_| {
            tracing::error!("handler panicked on {} {}", req.method(), req.path());
            engine.error_for_path(req.path(), 500, "internal error")
        },
    )
}

impl Service<HttpRequest> for Handler {
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = Handled;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest) -> Handled {
        let req = Request::from_http(req);
        if !self.engine.may_scan(&req) {
            let resp = response_of(answer(&self.engine, &req));
            return Handled::Now(std::future::ready(Ok(resp)));
        }
        // A scan over a large collection: on a blocking thread, a bounded number at once, so
        // that one expensive query does not stall the cheap ones.
        let (engine, scans) = (self.engine.clone(), self.scans.clone());
        Handled::Later(Box::pin(async move {
            let permit = scans.acquire_owned().await.ok();
            let e = engine.clone();
            let path = req.path().to_string();
            let r = tokio::task::spawn_blocking(move || {
                let resp = answer(&e, &req);
                drop(permit);
                resp
            })
            .await
            .unwrap_or_else(|_| engine.error_for_path(&path, 500, "internal error"));
            Ok(response_of(r))
        }))
    }
}

/// `--strict` around a service: each answer of an operation is checked against its contract.
#[derive(Clone)]
pub struct StrictLayer {
    engine: Arc<Engine>,
}

impl StrictLayer {
    pub fn new(engine: Arc<Engine>) -> Self {
        StrictLayer { engine }
    }
}

impl<S> Layer<S> for StrictLayer {
    type Service = Strict<S>;

    fn layer(&self, inner: S) -> Strict<S> {
        Strict {
            engine: self.engine.clone(),
            inner,
        }
    }
}

/// The service [`StrictLayer`] makes.
#[derive(Clone)]
pub struct Strict<S> {
    engine: Arc<Engine>,
    inner: S,
}

impl<S> Service<HttpRequest> for Strict<S>
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
        // What a violation's log line names.
        let seen = Request::line(req.method().clone(), req.uri().clone());
        let engine = self.engine.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            let Some(answered) = &resp.body().answered else {
                return Ok(resp);
            };
            let headers = resp.headers();
            let has = |h: &str| headers.contains_key(h);
            let request_id = headers
                .get(super::REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let status = resp.status().as_u16();
            // A panic in the check (a bug) is a 500 too, never a dropped connection.
            let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                engine.enforce(
                    &seen,
                    status,
                    &has,
                    &resp.body().bytes,
                    answered,
                    request_id,
                )
            }))
            .unwrap_or_else(|_| {
                tracing::error!(
                    "the --strict check panicked on {} {}",
                    seen.method(),
                    seen.path()
                );
                Some(engine.error_for_path(seen.path(), 500, "internal error"))
            });
            Ok(match checked {
                None => resp,
                Some(r) => {
                    // The replacement keeps the scenario's delay or dropped connection.
                    let mut out = response_of(r);
                    out.body_mut().pacing = resp.body().pacing;
                    out
                }
            })
        })
    }
}

/// The request path the server runs.
pub type Stack = super::observe::Observe<Either<Strict<Handler>, Handler>>;
/// The future of [`Stack`].
pub type StackFuture =
    super::observe::Observed<tower::util::future::EitherResponseFuture<Answer, Handled>>;

/// The handler, with `--strict` layered around it when the engine checks answers, and the
/// journal, metrics and access log around both (so they record what the client was sent).
pub fn stack(engine: Arc<Engine>, max_scans: usize) -> Stack {
    let strict = engine.strict().then(|| StrictLayer::new(engine.clone()));
    tower::ServiceBuilder::new()
        .layer(super::observe::ObserveLayer::new(engine.clone()))
        .layer(option_layer(strict))
        .service(Handler::new(engine, max_scans))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_request_reads_as_the_engines_own() {
        let req = http::Request::builder()
            .method("POST")
            .uri("http://api.example:8080/v1/things?limit=2&x=%20")
            .header("X-Thing", b"caf\xc3\xa9".as_slice())
            .header("X-Raw", http::HeaderValue::from_bytes(b"a\xffb").unwrap())
            .body(Bytes::from_static(b"{}"))
            .unwrap();
        let r = Request::from_http(req);
        assert_eq!(
            (r.method(), r.path(), r.query()),
            ("POST", "/v1/things", "limit=2&x=%20")
        );
        assert_eq!(r.header_value("x-thing"), Some("café"));
        assert_eq!(r.header_value("x-raw"), Some("a\u{fffd}b"));
        // No Host header: the URI's authority stands in for it (HTTP/2's :authority).
        assert_eq!(r.header_value("host"), Some("api.example:8080"));
        assert_eq!(&r.body[..], b"{}");
    }

    #[test]
    fn a_response_carries_its_pacing_and_operation_beside_its_bytes() {
        let mut r = Response::bytes(201, Bytes::from_static(b"[]"));
        r.add_header("x-ok", "1");
        r.add_header("bad name", "dropped");
        r.delay = Some(Duration::from_millis(5));
        r.answered = Some(Answered {
            mount: 1,
            op: 2,
            variant: None,
            scripted: None,
            refused: false,
        });
        let h = response_of(r);
        assert_eq!(h.status(), 201);
        assert_eq!(h.headers()["x-ok"], "1");
        assert_eq!(
            h.headers().len(),
            2,
            "content-type and x-ok; the bad name is left out"
        );
        assert_eq!(
            h.body().pacing,
            Pacing {
                delay: Some(Duration::from_millis(5)),
                drop: false
            }
        );
        assert_eq!(h.body().answered.as_ref().map(|a| a.op), Some(2));
        assert_eq!(&h.body().bytes[..], b"[]");
    }
}
