//! The HTTP server: hyper on tokio, HTTP/1.1 and HTTP/2 (cleartext). This is the only module
//! that sees hyper; it converts to and from the engine's own request and response types.
//! Request bodies are capped, and a handler panic (a bug) becomes a 500, never a dead server.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::engine::{Engine, Request, Response};
use crate::error::{Error, Result};

/// Largest request body accepted.
const MAX_BODY: usize = 1 << 20;

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    engine: Arc<Engine>,
}

impl Server {
    /// Bind to `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, engine: Arc<Engine>) -> Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Server(format!("cannot bind {addr}: {e}")))?;
        Ok(Server { listener, engine })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| Error::Server(e.to_string()))
    }

    /// Serve until the future `shutdown` completes.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                accepted = self.listener.accept() => {
                    let (stream, _) = match accepted {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!("accept failed: {e}");
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let engine = self.engine.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| {
                            let engine = engine.clone();
                            async move {
                                let (resp, delay, drop) = handle(engine, req).await;
                                if let Some(d) = delay {
                                    tokio::time::sleep(d).await;
                                }
                                if drop {
                                    // Returning an error makes hyper close the connection
                                    // without writing a response.
                                    return Err(Dropped);
                                }
                                Ok(resp)
                            }
                        });
                        let builder = auto::Builder::new(TokioExecutor::new());
                        if let Err(e) = builder
                            .serve_connection(TokioIo::new(stream), svc)
                            .await
                        {
                            tracing::debug!("connection ended: {e}");
                        }
                    });
                }
            }
        }
    }
}

/// The error a scenario's `drop: true` turns into, so the connection closes unanswered.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by a scenario")
    }
}

impl std::error::Error for Dropped {}

/// A response, with the delay and drop a scenario asked for.
type Answer = (
    hyper::Response<Full<Bytes>>,
    Option<std::time::Duration>,
    bool,
);

async fn handle(engine: Arc<Engine>, req: hyper::Request<Incoming>) -> Answer {
    let (parts, body) = req.into_parts();
    let too_large = || {
        let r = engine.error_for_path(
            parts.uri.path(),
            413,
            "the request body is too large or unreadable",
        );
        (to_hyper(r), None, false)
    };
    // A declared length over the limit is refused before reading a byte of the body.
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return too_large();
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return too_large(),
    };
    let ours = Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let resp = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.handle(&ours)))
        .unwrap_or_else(|_| {
            tracing::error!("handler panicked on {} {}", ours.method, ours.path);
            engine.error_for_path(&ours.path, 500, "internal error")
        });
    let (delay, drop) = (resp.delay, resp.drop);
    (to_hyper(resp), delay, drop)
}

fn to_hyper(r: Response) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Full::new(r.body)).unwrap_or_else(|_| {
        let mut fallback = hyper::Response::new(Full::new(Bytes::from_static(b"{}")));
        *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}
