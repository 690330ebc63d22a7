//! The engine being served, replaceable as a whole (`--watch`): each request takes the
//! current engine, with its layered service, once, so no request sees half of a reload; a
//! reload that fails leaves the current one serving and says why.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use serde_json::{Value, json};
use tower::Service;

use super::Engine;
use super::service::{self, HttpRequest, HttpResponse, Stack, StackFuture};

/// One engine and the request path built around it.
pub struct Generation {
    pub engine: Arc<Engine>,
    service: Stack,
}

/// The engine being served.
pub struct Live {
    current: ArcSwap<Generation>,
    max_scans: usize,
}

impl Live {
    /// Serve `engine`, at most `max_scans` large scans at once.
    pub fn new(engine: Arc<Engine>, max_scans: usize) -> Self {
        Live {
            current: ArcSwap::from_pointee(Generation {
                service: service::stack(engine.clone(), max_scans),
                engine,
            }),
            max_scans,
        }
    }

    /// The engine serving now.
    pub fn engine(&self) -> Arc<Engine> {
        self.current.load().engine.clone()
    }

    /// Serve `engine` from now on (requests already answering finish on the old one). It
    /// takes over the journal, metrics and reload history of the engine it replaces.
    pub fn replace(&self, mut engine: Engine) {
        let old = self.engine();
        engine.adopt(&old);
        let engine = Arc::new(engine);
        engine.note_reload(Ok(()));
        engine.journal().note(
            "reload",
            true,
            format!(
                "configuration reloaded: {}",
                engine
                    .mounts()
                    .iter()
                    .map(|m| m.api.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        self.current.store(Arc::new(Generation {
            service: service::stack(engine.clone(), self.max_scans),
            engine,
        }));
    }

    /// A reload that failed: the current engine keeps serving; the reason is kept for
    /// `/__understudy/health`.
    pub fn failed(&self, why: String) {
        let engine = self.engine();
        engine.journal().note(
            "reload",
            false,
            format!("reload failed, previous configuration kept: {why}"),
        );
        engine.note_reload(Err(why));
    }

    /// The request path over whichever engine is current when each request arrives.
    pub fn service(self: &Arc<Self>) -> LiveService {
        LiveService { live: self.clone() }
    }
}

/// The service [`Live::service`] makes.
#[derive(Clone)]
pub struct LiveService {
    live: Arc<Live>,
}

impl Service<HttpRequest> for LiveService {
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = StackFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    /// The current stack is always ready (its handler does not apply back-pressure; the
    /// layers only delegate), so it is called without waiting on `poll_ready`, and its own
    /// future is the answer.
    fn call(&mut self, req: HttpRequest) -> StackFuture {
        let mut service = self.live.current.load().service.clone();
        service.call(req)
    }
}

/// How reloads went.
#[derive(Debug, Clone, Default)]
pub struct Reloads {
    /// Reloads that took effect.
    pub done: u64,
    /// Reloads that failed (the previous configuration kept serving).
    pub failed: u64,
    /// Why the last one failed, if it did (cleared by the next that succeeds).
    pub last_error: Option<String>,
    /// When the last one was tried (wall clock, Unix ms).
    pub last_at_ms: Option<i64>,
}

impl Reloads {
    pub(super) fn note(&mut self, outcome: Result<(), String>) {
        self.last_at_ms = Some(super::journal::wall_ms());
        match outcome {
            Ok(()) => {
                self.done += 1;
                self.last_error = None;
            }
            Err(e) => {
                self.failed += 1;
                self.last_error = Some(e);
            }
        }
    }

    /// As `/__understudy/health` shows it.
    pub fn json(&self) -> Value {
        json!({
            "done": self.done,
            "failed": self.failed,
            "last_error": self.last_error,
            "last_at": self.last_at_ms.map(crate::data::entity::format_millis),
        })
    }
}
