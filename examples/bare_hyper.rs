//! A bare hyper server that answers every request with the same fixed JSON bytes: the baseline
//! understudy's throughput is compared with (`cargo run --release --example bare_hyper -- PORT
//! [BODY_FILE]`, then the same `wrk` command against both; `bench/run.py` serves it the exact
//! bytes understudy answers). Not part of understudy itself.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

const BODY: &[u8] =
    br#"{"id":"agent_0123456789abcdef0123456789abcdef","name":"Writing Bot","status":"active"}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(4099);
    let body: Bytes = match std::env::args().nth(2) {
        Some(file) => Bytes::from(std::fs::read(file)?),
        None => Bytes::from_static(BODY),
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("bare hyper on http://127.0.0.1:{port}");
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |_req| {
                let body = body.clone();
                async move {
                    let mut r = hyper::Response::new(Full::new(body));
                    r.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(r)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
