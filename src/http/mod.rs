//! The HTTP server: hyper on tokio, HTTP/1.1 and HTTP/2 (cleartext). This is the only module
//! that sees hyper; it reads each request whole (within the limits below) and hands it, as an
//! `http::Request<Bytes>`, to the engine's layered tower service ([`crate::engine::service`]).
//!
//! What it guards against, so that no client can knock the server over:
//! - slow or stalled clients: a time limit on each request's head and body, on idle keep-alive
//!   connections ([`conn`]), and HTTP/2 keep-alive pings;
//! - too many connections: past `max_connections`, a connection is answered 503 (in the API's
//!   own error shape) and closed, instead of every client slowing down;
//! - a full file-descriptor table: failed accepts back off (1 ms doubling to 1 s) and are
//!   logged once per burst, never in a hot loop;
//! - oversized or malformed input: bodies over 1 MiB (413), a body that is not valid HTTP
//!   framing (400), an over-long target (414) or header block (431), all in the API's shape;
//! - expensive requests: list scans over large collections run on blocking threads, at most
//!   `max_scans` at once, so cheap requests never wait behind them (the service does this);
//! - a handler panic (a bug): a 500, never a dead server (the service does this too).
//!
//! Shutdown is graceful: the listener closes, in-flight requests finish (up to a deadline),
//! idle connections close.

mod conn;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tower::ServiceExt;

pub use conn::Timeouts;
use conn::{Activity, Watched};

use crate::engine::Engine;
use crate::engine::live::{Live, LiveService};
use crate::engine::service;
use crate::error::{Error, Result};

/// Largest request body accepted.
const MAX_BODY: usize = 1 << 20;
/// Longest request target (path and query) accepted: room for every parameter a spec allows
/// (a 1,000-character filter of 4-byte characters is 12 KB percent-encoded), and below the
/// 64 KiB past which the `http` crate refuses to parse a URI (hyper then answers 414 itself,
/// without a body).
const MAX_TARGET: usize = 60 << 10;
/// Largest header block (names and values) accepted.
const MAX_HEADERS: usize = 64 << 10;

/// How the server bounds its clients.
#[derive(Debug, Clone)]
pub struct Options {
    pub timeouts: Timeouts,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Expensive list scans running at once.
    pub max_scans: usize,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeouts: Timeouts::default(),
            max_connections: 4096,
            max_scans: std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    live: Arc<Live>,
    opts: Options,
}

/// State shared by the accept loop and its connections.
struct Shared {
    live: Arc<Live>,
    opts: Options,
    /// The request path: the current engine's handler with its layers.
    service: LiveService,
    /// Connections alive, and a signal each time one ends.
    connections: AtomicUsize,
    ended: Notify,
}

impl Server {
    /// Bind to `addr` (port 0 picks a free port) with default limits.
    pub async fn bind(addr: SocketAddr, engine: Arc<Engine>) -> Result<Self> {
        Self::bind_with(addr, engine, Options::default()).await
    }

    /// Bind to `addr` with the given limits.
    pub async fn bind_with(addr: SocketAddr, engine: Arc<Engine>, opts: Options) -> Result<Self> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(|e| Error::Server(format!("cannot bind {addr}: {e}")))?;
        let _ = socket.set_reuseaddr(true);
        socket
            .bind(addr)
            .map_err(|e| Error::Server(format!("cannot bind {addr}: {e}")))?;
        // A deep backlog: bursts of connections wait in the kernel rather than being reset.
        let listener = socket
            .listen(4096)
            .map_err(|e| Error::Server(format!("cannot listen on {addr}: {e}")))?;
        Ok(Server {
            listener,
            live: Arc::new(Live::new(engine, opts.max_scans)),
            opts,
        })
    }

    /// The engine being served, which a reload replaces (`--watch`).
    pub fn live(&self) -> Arc<Live> {
        self.live.clone()
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| Error::Server(e.to_string()))
    }

    /// Serve until the future `shutdown` completes, then stop accepting, let in-flight
    /// requests finish (up to the grace period) and close every connection.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        let shared = Arc::new(Shared {
            service: self.live.service(),
            live: self.live,
            opts: self.opts,
            connections: AtomicUsize::new(0),
            ended: Notify::new(),
        });
        let slots = Arc::new(Semaphore::new(shared.opts.max_connections.max(1)));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut backoff = Duration::ZERO;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        backoff = Duration::ZERO;
                        let _ = stream.set_nodelay(true);
                        let permit = slots.clone().try_acquire_owned().ok();
                        shared.connections.fetch_add(1, Ordering::AcqRel);
                        let shared = shared.clone();
                        let stop = stop_rx.clone();
                        tokio::spawn(async move {
                            serve_connection(stream, &shared, permit.is_some(), stop).await;
                            drop(permit);
                            shared.connections.fetch_sub(1, Ordering::AcqRel);
                            shared.ended.notify_waiters();
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors (or another transient failure): wait before
                        // trying again, doubling up to a second, and say so once per burst.
                        if backoff.is_zero() {
                            tracing::warn!("accept failed: {e}; backing off");
                            backoff = Duration::from_millis(1);
                        } else {
                            backoff = (backoff * 2).min(Duration::from_secs(1));
                        }
                        tokio::time::sleep(backoff).await;
                    }
                },
            }
        }
        drop(self.listener);
        let _ = stop_tx.send(true);
        let deadline = tokio::time::Instant::now() + shared.opts.shutdown_grace;
        loop {
            let ended = shared.ended.notified();
            let live = shared.connections.load(Ordering::Acquire);
            if live == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                tracing::warn!("shutdown: {live} connections still busy after the grace period");
                break;
            }
        }
        Ok(())
    }
}

/// Serve one connection until it ends, is found stalled or idle, or the server stops.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    shared: &Arc<Shared>,
    admitted: bool,
    mut stop: watch::Receiver<bool>,
) {
    let t = shared.opts.timeouts;
    let activity = Activity::new();
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let svc = {
        let shared = shared.clone();
        let activity = activity.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            let in_flight = activity.begin();
            async move {
                let (resp, delay, drop) = if admitted {
                    handle(&shared, req).await
                } else {
                    refuse(&shared, &req)
                };
                if let Some(d) = delay {
                    tokio::time::sleep(d).await;
                }
                std::mem::drop(in_flight);
                if drop {
                    // Returning an error makes hyper close the connection without writing a
                    // response.
                    return Err(Dropped);
                }
                Ok(resp)
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None::<Duration>)
        .keep_alive(admitted);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(t.h2_keepalive)
        .keep_alive_timeout(t.h2_keepalive);
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let tick = (t.header.min(t.idle) / 4).max(Duration::from_millis(10));
    let mut watchdog = tokio::time::interval(tick);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            _ = watchdog.tick() => {
                if let Some(why) = activity.expired(&t) {
                    tracing::debug!("closing a connection: {why}");
                    return;
                }
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
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

/// Over the connection limit: 503 in the API's shape, and the connection closes.
fn refuse(shared: &Shared, req: &hyper::Request<Incoming>) -> Answer {
    let mut r = shared.live.engine().error_for_path(
        req.uri().path(),
        503,
        "the server is at its connection limit; try again shortly",
    );
    r.add_header("retry-after", "1");
    r.add_header("connection", "close");
    refusal(r)
}

/// A refusal made before the request reaches the services: sent as it is, at once.
fn refusal(r: crate::engine::Response) -> Answer {
    (
        service::response_of(r).map(|b| Full::new(b.bytes)),
        None,
        false,
    )
}

async fn handle(shared: &Arc<Shared>, req: hyper::Request<Incoming>) -> Answer {
    let (parts, body) = req.into_parts();
    let refuse = |status: u16, message: &str| {
        let r = shared
            .live
            .engine()
            .error_for_path(parts.uri.path(), status, message);
        refusal(r)
    };
    let target = parts.uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_TARGET {
        return refuse(
            414,
            &format!("the request target is longer than {MAX_TARGET} bytes"),
        );
    }
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if header_bytes > MAX_HEADERS {
        return refuse(
            431,
            &format!("the request headers are larger than {MAX_HEADERS} bytes"),
        );
    }
    // A declared length over the limit is refused before reading a byte of the body.
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = "the request body is too large (over 1 MiB)";
    if declared.is_some_and(|n| n > MAX_BODY) {
        return refuse(413, too_large);
    }
    // Most requests have no body: no timer and no collecting for those.
    let body = if hyper::body::Body::is_end_stream(&body) {
        Bytes::new()
    } else {
        let read = Limited::new(body, MAX_BODY).collect();
        match tokio::time::timeout(shared.opts.timeouts.body, read).await {
            Ok(Ok(b)) => b.to_bytes(),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return refuse(413, too_large);
            }
            Ok(Err(_)) => return refuse(400, "the request body is not valid HTTP framing"),
            Err(_) => return refuse(408, "the request body did not arrive in time"),
        }
    };
    // HEAD is answered as GET, without the body.
    let head = parts.method == hyper::Method::HEAD;
    let mut parts = parts;
    if head {
        parts.method = hyper::Method::GET;
    }
    let req = http::Request::from_parts(parts, body);
    let resp = match shared.service.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let (mut parts, reply) = resp.into_parts();
    let (body, pacing) = (reply.bytes, reply.pacing);
    let body = if head {
        parts
            .headers
            .insert(hyper::header::CONTENT_LENGTH, body.len().into());
        Bytes::new()
    } else {
        body
    };
    (
        hyper::Response::from_parts(parts, Full::new(body)),
        pacing.delay,
        pacing.drop,
    )
}
