//! One accepted connection: its socket wrapped so that activity is seen, and a watchdog that
//! closes it when a request's head takes too long to arrive (a slow or stalled client) or when
//! it sits idle between requests for too long. hyper's own header timer is not used: in hyper
//! 1.x it also runs while a keep-alive connection waits for its next request, which would make
//! the idle limit and the header limit one and the same.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the watchdog of one connection knows about it.
#[derive(Debug)]
pub(crate) struct Activity {
    origin: Instant,
    /// Milliseconds since `origin` of the last byte read or written.
    last: AtomicU64,
    /// Milliseconds since `origin` (plus one; 0 = none) when the first byte of a request head
    /// arrived while no request was being answered.
    head_started: AtomicU64,
    /// Requests whose head was read and whose answer is not finished.
    in_flight: AtomicUsize,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            origin: Instant::now(),
            last: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn on_read(&self) {
        let now = self.now_ms();
        self.last.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ =
                self.head_started
                    .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn on_write(&self) {
        self.last.store(self.now_ms(), Ordering::Relaxed);
    }

    /// A request's head has been read: it is being answered.
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(0, Ordering::Release);
        InFlight(self.clone())
    }

    /// Why the connection should be closed now, if it should.
    pub(crate) fn expired(&self, limits: &Timeouts) -> Option<&'static str> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let now = self.now_ms();
        let started = self.head_started.load(Ordering::Acquire);
        if started > 0 && now.saturating_sub(started - 1) > millis(limits.header) {
            return Some("the request head was not complete in time");
        }
        let last = self.last.load(Ordering::Relaxed);
        if started == 0 && now.saturating_sub(last) > millis(limits.idle) {
            return Some("idle");
        }
        None
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Marks one request as being answered until dropped (also when the client goes away).
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.last.store(self.0.now_ms(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The connection-level time limits.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From the first byte of a request head to its end.
    pub header: Duration,
    /// From the end of the head to the end of the body.
    pub body: Duration,
    /// A keep-alive connection with no request in flight and no byte moving.
    pub idle: Duration,
    /// HTTP/2 keep-alive pings: interval, and how long an answer may take.
    pub h2_keepalive: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(10),
            body: Duration::from_secs(30),
            idle: Duration::from_secs(60),
            h2_keepalive: Duration::from_secs(20),
        }
    }
}

/// A socket whose reads and writes are reported to its [`Activity`].
pub(crate) struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Self {
        Watched { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.on_read();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Timeouts {
        Timeouts {
            header: Duration::from_millis(50),
            idle: Duration::from_millis(200),
            ..Timeouts::default()
        }
    }

    #[test]
    fn a_stalled_head_expires_before_an_idle_connection() {
        let a = Activity::new();
        a.on_read();
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(
            a.expired(&limits()),
            Some("the request head was not complete in time")
        );
        // Once the head is complete the request is answered, however long it takes.
        let f = a.begin();
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(a.expired(&limits()), None);
        drop(f);
        // Idle (answered, nothing new) is allowed longer than a head.
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(a.expired(&limits()), None);
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(a.expired(&limits()), Some("idle"));
    }
}
