//! The dashboard (`GET /__understudy/ui`): one page, its script and its style sheet, embedded
//! in the binary (no CDN; works offline). The page drives only the documented admin API; it
//! is guarded like the rest of it (loopback host names, the admin token when one is set).

use bytes::Bytes;

use super::Response;

const INDEX: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/style.css");

/// One of the page's files, by its name below `/ui` (`""` for the page).
pub(super) fn asset(name: &str) -> Option<Response> {
    let (body, content_type) = match name {
        "" | "index.html" => (INDEX, "text/html; charset=utf-8"),
        "app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return None,
    };
    let mut r = Response::bytes(200, Bytes::from_static(body.as_bytes()));
    r.headers.clear();
    for (k, v) in [
        ("content-type", content_type),
        // Only its own script and style, no frames around it, no sniffing.
        (
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-cache"),
    ] {
        r.add_header(k, v);
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_files_are_served_with_their_types() {
        let page = asset("").unwrap();
        assert!(
            std::str::from_utf8(&page.body)
                .unwrap()
                .contains("/__understudy/ui/app.js")
        );
        let ct = |r: &Response| r.header("content-type").map(str::to_string);
        assert_eq!(ct(&page).as_deref(), Some("text/html; charset=utf-8"));
        assert!(
            ct(&asset("app.js").unwrap())
                .unwrap()
                .starts_with("text/javascript")
        );
        assert!(
            ct(&asset("style.css").unwrap())
                .unwrap()
                .starts_with("text/css")
        );
        assert!(asset("../Cargo.toml").is_none());
    }
}
