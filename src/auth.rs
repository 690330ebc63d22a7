//! Credentials: checking a request against its operation's security requirements, and the
//! optional tokens file (`--tokens FILE`) that restricts which tokens are accepted and what each
//! may do.
//!
//! Tokens file format: one token per line, optionally followed by whitespace and a
//! comma-separated list of permissions (`things:read`); a token without a list may do
//! everything (`*`), and `-` grants nothing. Blank lines and `#` comments are ignored.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use regex::Regex;

use crate::api_error::ApiError;
use crate::error::{Error, Result};
use crate::spec::{Api, Operation, SchemeKind};

/// Accepted tokens and their permissions.
#[derive(Debug, Clone, Default)]
pub struct TokenDb {
    tokens: HashMap<String, Vec<String>>,
}

impl TokenDb {
    /// Read a tokens file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parse tokens-file text (`path` is for messages).
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let mut tokens = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let token = parts.next().unwrap_or("").to_string();
            let perms: Vec<String> = match parts.next() {
                None => vec!["*".into()],
                Some("-") => Vec::new(),
                Some(p) => p.split(',').map(|s| s.trim().to_string()).collect(),
            };
            if parts.next().is_some() {
                return Err(Error::Tokens {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: "expected `TOKEN [perm,perm]`; permissions are comma-separated".into(),
                });
            }
            tokens.insert(token, perms);
        }
        Ok(TokenDb { tokens })
    }

    fn allows(&self, token: &str, permission: Option<&str>) -> Option<bool> {
        let perms = self.tokens.get(token)?;
        Some(match permission {
            None => true,
            Some(p) => perms.iter().any(|q| q == "*" || q == p),
        })
    }
}

/// Where a request's credentials can be read from.
pub struct Presented<'r> {
    /// A request header by lower-case name.
    pub header: &'r dyn Fn(&str) -> Option<&'r str>,
    /// The raw query string.
    pub query: &'r str,
}

impl Presented<'_> {
    fn query_value(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    fn cookie(&self, name: &str) -> Option<String> {
        let raw = (self.header)("cookie")?;
        raw.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
        })
    }
}

/// Check credentials for `op`. Any present, well-formed credential satisfies a scheme (a
/// generic document has no token format to hold it to; a scheme's `token-pattern` may set one);
/// with a tokens file, the token must be listed and hold the operation's permission.
pub fn check(
    api: &Api,
    op: &Operation,
    permission: Option<&str>,
    presented: &Presented<'_>,
    tokens: Option<&TokenDb>,
) -> std::result::Result<(), ApiError> {
    if op.security.is_empty() || op.security.iter().any(Vec::is_empty) {
        return Ok(());
    }
    let mut offered = false;
    let mut found: Option<Option<Cow<'_, str>>> = None;
    'alts: for alt in &op.security {
        let mut token = None;
        for name in alt {
            let Some(scheme) = api.schemes.get(name) else {
                continue 'alts;
            };
            // Headers are read in place; a query value (decoded) or a cookie is a copy.
            let raw: Option<Cow<'_, str>> = match &scheme.kind {
                SchemeKind::Bearer | SchemeKind::Basic => {
                    (presented.header)("authorization").map(Cow::Borrowed)
                }
                SchemeKind::Header(h) => (presented.header)(h).map(Cow::Borrowed),
                SchemeKind::Query(q) => presented.query_value(q).map(Cow::Owned),
                SchemeKind::Cookie(c) => presented.cookie(c).map(Cow::Owned),
                SchemeKind::Unchecked(_) => continue,
            };
            let Some(raw) = raw else { continue 'alts };
            offered = true;
            let pattern = scheme.token_pattern.as_ref();
            let t = match raw {
                Cow::Borrowed(r) => extract(&scheme.kind, pattern, r),
                Cow::Owned(r) => extract(&scheme.kind, pattern, &r).map(|t| t.into_owned().into()),
            };
            match t {
                Some(t) => {
                    token.get_or_insert(t);
                }
                None => continue 'alts,
            }
        }
        found = Some(token);
        break;
    }
    let Some(token) = found else {
        let msg = if offered {
            "malformed credentials"
        } else {
            "missing credentials"
        };
        return Err(ApiError::new(401, msg));
    };
    let Some(token) = token else {
        return Ok(());
    };
    match tokens.map(|db| db.allows(&token, permission)) {
        None | Some(Some(true)) => Ok(()),
        Some(None) => Err(ApiError::new(401, "invalid or unknown token")),
        Some(Some(false)) => Err(ApiError::new(
            403,
            format!("token lacks the permission '{}'", permission.unwrap_or("*")),
        )),
    }
}

/// How a client of the spec presents a token for an operation.
#[derive(Debug, Default)]
pub struct Credentials {
    /// `Authorization: Bearer …`, Basic with the token as user, the scheme's own header or a
    /// cookie.
    pub headers: Vec<(String, String)>,
    /// API keys in query parameters.
    pub query: Vec<(String, String)>,
}

/// What presents `token` the way `op`'s first security alternative asks.
pub fn credentials(api: &Api, op: &Operation, token: &str) -> Credentials {
    use base64::Engine as _;
    let mut out = Credentials::default();
    let Some(alt) = op.security.first() else {
        return out;
    };
    for kind in alt
        .iter()
        .filter_map(|name| api.schemes.get(name).map(|s| &s.kind))
    {
        let header = |k: &str, v: String| (k.to_string(), v);
        match kind {
            SchemeKind::Bearer => out
                .headers
                .push(header("authorization", format!("Bearer {token}"))),
            SchemeKind::Basic => out.headers.push(header(
                "authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{token}:"))
                ),
            )),
            SchemeKind::Header(h) => out.headers.push(header(h, token.to_string())),
            SchemeKind::Cookie(c) => out.headers.push(header("cookie", format!("{c}={token}"))),
            SchemeKind::Query(q) => out.query.push((q.clone(), token.to_string())),
            SchemeKind::Unchecked(_) => {}
        }
    }
    out
}

/// The token carried by a credential value, if well-formed for the scheme.
fn extract<'a>(kind: &SchemeKind, pattern: Option<&Regex>, raw: &'a str) -> Option<Cow<'a, str>> {
    use base64::Engine as _;
    let raw = raw.trim();
    if let Some(re) = pattern {
        let caps = re.captures(raw)?;
        return Some(Cow::Borrowed(caps.get(1).or(caps.get(0))?.as_str()));
    }
    match kind {
        SchemeKind::Bearer => {
            let (scheme, token) = raw.split_once(' ')?;
            let token = token.trim();
            (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
                .then_some(Cow::Borrowed(token))
        }
        SchemeKind::Basic => {
            let (scheme, b64) = raw.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return None;
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()?;
            let text = String::from_utf8(bytes).ok()?;
            // The user is the token (`sk_...:`); with no user, the password (`:token`).
            let (user, password) = text.split_once(':')?;
            [user, password]
                .into_iter()
                .find(|s| !s.is_empty())
                .map(|t| Cow::Owned(t.to_string()))
        }
        SchemeKind::Header(_) | SchemeKind::Query(_) | SchemeKind::Cookie(_) => {
            (!raw.is_empty()).then_some(Cow::Borrowed(raw))
        }
        SchemeKind::Unchecked(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_bearer_and_patterned_tokens() {
        assert_eq!(
            extract(&SchemeKind::Bearer, None, "Bearer abc"),
            Some("abc".into())
        );
        assert_eq!(extract(&SchemeKind::Bearer, None, "Bearer"), None);
        assert_eq!(extract(&SchemeKind::Bearer, None, "Basic abc"), None);
        assert_eq!(
            extract(&SchemeKind::Bearer, None, "Bearer My API Key"),
            Some("My API Key".into())
        );
        assert_eq!(
            extract(&SchemeKind::Basic, None, "Basic c2tfdGVzdF8xOg=="),
            Some("sk_test_1".into())
        );
        assert_eq!(
            extract(&SchemeKind::Basic, None, "Basic OnB3"),
            Some("pw".into())
        );
        assert_eq!(extract(&SchemeKind::Basic, None, "Basic Og=="), None);
        assert_eq!(extract(&SchemeKind::Basic, None, "Basic !!"), None);
        let re = Regex::new("^(?:ApiKey )?(evr_[A-Za-z0-9]+)$").unwrap();
        let h = SchemeKind::Header("authorization".into());
        assert_eq!(
            extract(&h, Some(&re), "ApiKey evr_x1"),
            Some("evr_x1".into())
        );
        assert_eq!(extract(&h, Some(&re), "evr_x1"), Some("evr_x1".into()));
        assert_eq!(extract(&h, Some(&re), "Bearer evr_x1"), None);
    }

    #[test]
    fn parses_tokens_file() {
        let db = TokenDb::parse(
            Path::new("t"),
            "# comment\nall\nreader things:read\nnobody -\n",
        )
        .unwrap();
        assert_eq!(db.allows("all", Some("things:read")), Some(true));
        assert_eq!(db.allows("reader", Some("things:read")), Some(true));
        assert_eq!(db.allows("reader", Some("things:write")), Some(false));
        assert_eq!(db.allows("nobody", Some("things:read")), Some(false));
        assert_eq!(db.allows("stranger", None), None);
        let e = TokenDb::parse(Path::new("t"), "a b c\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t:1:"), "{e}");
    }
}
