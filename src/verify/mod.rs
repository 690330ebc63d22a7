//! `understudy verify`: checking a live server (the real API, another mock, or understudy
//! itself) against a spec. It walks every list to the end (bounded), walks it again with another
//! page size, fetches a sample of items through their detail endpoint, and sends the documented
//! bad requests (limit out of bounds, malformed page token, unknown id, missing credentials).
//! Every response is checked against the operation's documented statuses and schemas; each
//! violation is reported with the request that caused it.

pub mod report;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;

use crate::contract::Contract;
use crate::spec::behaviour::{Action, Bound, List, Paging};
use crate::spec::{Api, Operation};
pub use report::{Check, Kind, Report, Violation};

/// How to verify.
#[derive(Debug, Clone)]
pub struct Options {
    /// Takes the place of the spec's server URL.
    pub base_url: String,
    /// Credential sent the way the operation's security scheme says.
    pub token: String,
    /// Most pages fetched per walk.
    pub max_pages: usize,
    /// Most items fetched through their detail endpoint, per list.
    pub sample: usize,
    /// Called after every request (progress display).
    pub on_request: Option<fn(usize)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            base_url: String::new(),
            token: "understudy-verify".into(),
            max_pages: 200,
            sample: 20,
            on_request: None,
        }
    }
}

/// What a deliberately bad request must get.
#[derive(Clone, Copy)]
enum Expect {
    Refusal,
    Status(u16),
}

/// A response as verify sees it.
struct Resp {
    status: u16,
    body: Vec<u8>,
    json: Option<Value>,
}

struct Verifier<'a> {
    api: &'a Api,
    contract: Contract,
    opts: &'a Options,
    agent: ureq::Agent,
    report: Report,
}

/// The result of walking a list.
struct Walk {
    items: Vec<Value>,
    pages: usize,
    complete: bool,
    total: Option<u64>,
}

/// Verify the server at `opts.base_url` against `api`.
pub fn run(api: &Api, opts: &Options) -> Result<Report, String> {
    let contract = Contract::new(api)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut v = Verifier {
        api,
        contract,
        opts,
        agent,
        report: Report::new(&api.name, &opts.base_url),
    };
    for (i, op) in api.operations.iter().enumerate() {
        match &op.bound {
            Some(b) if let Action::List(l) = &b.action => v.verify_list(i, op, b, l),
            Some(_) => {} // detail endpoints are reached from their list
            None if op.method == "GET" && !op.path.contains('{') => {
                let mut check = Check::new(format!("GET {}", op.path));
                v.send(&mut check, i, &op.path, &[], true);
                v.report.checks.push(check);
            }
            None => {}
        }
    }
    Ok(v.report)
}

/// `path` with every path parameter still in braces (`{org}`) replaced by the parameter's
/// example value (its example, default or first enum value; else `example`).
fn example_path(op: &Operation, path: &str) -> String {
    crate::spec::fill_path(path, |name| {
        let p = op.params.iter().find(|p| p.name == name)?;
        Some(
            p.example
                .as_ref()
                .map(crate::data::CollectionModel::key_text)
                .unwrap_or_else(|| "example".to_string()),
        )
    })
}

impl Verifier<'_> {
    fn url(&self, path: &str, query: &[(String, String)]) -> String {
        let mut url = format!("{}{}", self.opts.base_url.trim_end_matches('/'), path);
        if !query.is_empty() {
            let q: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            url.push('?');
            url.push_str(&q);
        }
        url
    }

    /// Send a GET for operation `op_i`, check status and body, and return the response.
    fn send(
        &mut self,
        check: &mut Check,
        op_i: usize,
        path: &str,
        query: &[(String, String)],
        auth: bool,
    ) -> Option<Resp> {
        let op = &self.api.operations[op_i];
        let path = &example_path(op, path);
        let url = self.url(path, query);
        let request = format!("GET {url}");
        let mut b = ureq::http::Request::builder().method("GET").uri(&url);
        if auth {
            for (k, v) in crate::auth::credentials(self.api, op, &self.opts.token).headers {
                b = b.header(k, v);
            }
        }
        self.report.requests += 1;
        if let Some(f) = self.opts.on_request {
            f(self.report.requests);
        }
        let result = b
            .body(())
            .map_err(|e| e.to_string())
            .and_then(|req| self.agent.run(req).map_err(|e| e.to_string()));
        let mut r = match result {
            Ok(r) => r,
            Err(e) => {
                check.fail(Kind::Transport, &request, e);
                return None;
            }
        };
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap_or_default();
        let json = serde_json::from_slice(&body).ok();
        let resp = Resp { status, body, json };
        if op.response(status).is_none() {
            check.fail(
                Kind::UndocumentedStatus,
                &request,
                format!(
                    "status {status} is not documented for {} {}",
                    op.method, op.path
                ),
            );
        } else {
            let errs = self.contract.check(self.api, op_i, status, &resp.body);
            let kind = if status >= 400 {
                Kind::ErrorShape
            } else {
                Kind::Schema
            };
            for e in errs.into_iter().take(5) {
                check.fail(kind, &request, format!("status {status}: {e}"));
            }
        }
        Some(resp)
    }

    fn verify_list(&mut self, op_i: usize, op: &Operation, b: &Bound, x: &List) {
        let key = self
            .api
            .models
            .get(&b.collection)
            .map(|m| m.key.clone())
            .unwrap_or_else(|| "id".into());
        let limit_ext = x.limit.clone();
        let mut check = Check::new(format!("walk GET {}", op.path));
        let first = self.walk(&mut check, op_i, op, x, &key, None);
        check.detail = format!("{} pages, {} items", first.pages, first.items.len());
        self.report.checks.push(check);

        // A second walk with another page size must see the same items in the same order.
        if x.paging != Paging::None
            && first.complete
            && let Some(l) = &limit_ext
        {
            let other = if l.default > 1 { l.default / 2 + 1 } else { 2 };
            let other = l.max.map_or(other, |m| other.min(m));
            let mut check = Check::new(format!("walk GET {} with {}={other}", op.path, l.param));
            let second = self.walk(&mut check, op_i, op, x, &key, Some(other));
            if second.complete {
                let a: Vec<String> = keys(&first.items, &key);
                let b: Vec<String> = keys(&second.items, &key);
                if a != b {
                    let sa: HashSet<&String> = a.iter().collect();
                    let sb: HashSet<&String> = b.iter().collect();
                    let missing: Vec<&&String> = sa.difference(&sb).take(5).collect();
                    let extra: Vec<&&String> = sb.difference(&sa).take(5).collect();
                    let msg = if missing.is_empty() && extra.is_empty() {
                        "the same items came back in another order".to_string()
                    } else {
                        format!(
                            "walks with different page sizes disagree: only in the first {missing:?}, only in the second {extra:?}"
                        )
                    };
                    let request = format!("GET {}", self.url(&op.path, &[]));
                    check.fail(Kind::Skipped, &request, msg);
                }
            }
            self.report.checks.push(check);
        }

        self.verify_details(op, b, &key, &first.items);
        self.verify_bad_requests(op_i, op, b, x, &key, &first.items);
    }

    fn walk(
        &mut self,
        check: &mut Check,
        op_i: usize,
        op: &Operation,
        x: &List,
        key: &str,
        limit: Option<u64>,
    ) -> Walk {
        let limit_ext = x.limit.as_ref();
        let page_limit = limit.or(limit_ext.map(|l| l.default));
        let items_ptr = x.items.clone();
        let mut base_query = Vec::new();
        if let (Some(l), Some(n)) = (limit_ext, limit) {
            base_query.push((l.param.clone(), n.to_string()));
        }
        let mut out = Walk {
            items: Vec::new(),
            pages: 0,
            complete: false,
            total: None,
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut next: Vec<(String, String)> = Vec::new();
        while out.pages < self.opts.max_pages {
            let mut query = base_query.clone();
            query.extend(next.iter().cloned());
            let request = format!("GET {}", self.url(&op.path, &query));
            let Some(resp) = self.send(check, op_i, &op.path, &query, true) else {
                return out;
            };
            out.pages += 1;
            if resp.status != 200 {
                check.fail(
                    Kind::Unexpected,
                    &request,
                    format!("a list page answered {}", resp.status),
                );
                return out;
            }
            let Some(body) = resp.json else { return out };
            let page: Vec<Value> = body
                .pointer(&items_ptr)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if let Some(l) = page_limit
                && x.paging != Paging::None
                && page.len() as u64 > l
            {
                check.fail(
                    Kind::PageOverLimit,
                    &request,
                    format!("{} items on a page with limit {l}", page.len()),
                );
            }
            if let Some(t) = x
                .total
                .as_deref()
                .and_then(|t| body.pointer(t))
                .and_then(Value::as_u64)
            {
                out.total = Some(t);
            }
            for item in &page {
                let k = key_of(item, key);
                if let Some(prev) = seen.insert(k.clone(), out.pages) {
                    check.fail(
                        Kind::Duplicate,
                        &request,
                        format!("item {k} was already on page {prev}"),
                    );
                }
            }
            let last = page.last().map(|i| key_of(i, key));
            let empty = page.is_empty();
            out.items.extend(page);
            next = match &x.paging {
                Paging::None => {
                    out.complete = true;
                    break;
                }
                Paging::PageToken { param } => {
                    let tok = x
                        .next_token
                        .as_deref()
                        .and_then(|t| body.pointer(t))
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty());
                    match tok {
                        Some(t) => vec![(param.clone(), t.to_string())],
                        None => {
                            out.complete = true;
                            break;
                        }
                    }
                }
                Paging::Cursor { after, .. } => match last {
                    Some(l) if !empty => vec![(after.clone(), l)],
                    _ => {
                        out.complete = true;
                        break;
                    }
                },
                Paging::Page { param, first } => {
                    if empty {
                        out.complete = true;
                        break;
                    }
                    vec![(param.clone(), (first + out.pages as u64).to_string())]
                }
                Paging::Offset { param } => {
                    if empty {
                        out.complete = true;
                        break;
                    }
                    vec![(param.clone(), out.items.len().to_string())]
                }
            };
        }
        if let Some(t) = out.total
            && out.complete
            && t != out.items.len() as u64
        {
            check.fail(
                Kind::Skipped,
                &format!("GET {}", self.url(&op.path, &[])),
                format!(
                    "the walk returned {} items but the total says {t}",
                    out.items.len()
                ),
            );
        }
        out
    }

    /// The detail operation of a list's collection: the one under the list's path if there is
    /// one (`/orgs/{org}/things/{id}` for `/orgs/{org}/things`), else the first.
    fn detail_op<'b>(
        api: &'b Api,
        list: &Operation,
        x: &Bound,
    ) -> Option<(usize, &'b Operation, String)> {
        let details: Vec<(usize, &Operation, String)> = api
            .operations
            .iter()
            .enumerate()
            .filter_map(|(i, o)| {
                let ox = o.bound.as_ref()?;
                match &ox.action {
                    Action::Get(key) if ox.collection == x.collection => {
                        Some((i, o, key.key_param.clone()))
                    }
                    _ => None,
                }
            })
            .collect();
        let under = format!("{}/", list.path.trim_end_matches('/'));
        let i = details
            .iter()
            .position(|(_, o, _)| o.path.starts_with(&under))
            .unwrap_or(0);
        details.into_iter().nth(i)
    }

    fn detail_path(op: &Operation, param: &str, key: &str) -> String {
        op.path_with(|p| (p == param).then(|| key.to_string()))
    }

    fn verify_details(&mut self, list_op: &Operation, x: &Bound, key: &str, items: &[Value]) {
        let Some((di, dop, param)) = Self::detail_op(self.api, list_op, x) else {
            return;
        };
        let mut check = Check::new(format!(
            "detail GET {} (sample of {})",
            dop.path, list_op.path
        ));
        let n = items.len();
        let step = (n / self.opts.sample.max(1)).max(1);
        let hidden: HashSet<&str> = x
            .expand
            .iter()
            .flat_map(|e| e.fields.iter().map(String::as_str))
            .chain(
                x.include
                    .iter()
                    .flat_map(|i| i.fields.values().flatten().map(String::as_str)),
            )
            .collect();
        let item_ptr = match dop.bound.as_ref().map(|d| &d.action) {
            Some(Action::Get(key)) => key.item.clone(),
            _ => String::new(),
        };
        let item_node = dop
            .response(200)
            .and_then(|d| d.node.as_ref())
            .and_then(|n| n.at_pointer(&item_ptr));
        for item in items.iter().step_by(step).take(self.opts.sample) {
            let k = key_of(item, key);
            let path = Self::detail_path(dop, &param, &k);
            let request = format!("GET {}", self.url(&path, &[]));
            let Some(resp) = self.send(&mut check, di, &path, &[], true) else {
                continue;
            };
            if resp.status != 200 {
                check.fail(
                    Kind::ListDetailMismatch,
                    &request,
                    format!("a listed item answered {}", resp.status),
                );
                continue;
            }
            let Some(body) = resp.json else { continue };
            let Some(b) = body.pointer(&item_ptr).and_then(Value::as_object) else {
                check.fail(
                    Kind::ListDetailMismatch,
                    &request,
                    format!("the detail holds no object at '{item_ptr}'"),
                );
                continue;
            };
            let Some(a) = item.as_object() else { continue };
            for (field, lv) in a {
                if hidden.contains(field.as_str())
                    || item_node.is_some_and(|n| n.prop(field).is_none())
                {
                    continue;
                }
                if let Some(dv) = b.get(field)
                    && !shown_by(lv, dv)
                {
                    check.fail(
                        Kind::ListDetailMismatch,
                        &request,
                        format!("field '{field}' is {lv} in the list but {dv} in the detail"),
                    );
                }
            }
        }
        self.report.checks.push(check);
    }

    fn verify_bad_requests(
        &mut self,
        op_i: usize,
        op: &Operation,
        b: &Bound,
        x: &List,
        key: &str,
        items: &[Value],
    ) {
        // The server refuses a value only with a status the operation documents (else it
        // leaves the parameter out), so refusals are expected only where one is.
        let refuses = op.response(self.api.bad_request_status).is_some();
        // Limits out of bounds (a declared minimum only: without one, 0 is an empty page).
        if let Some(l) = x.limit.as_ref().filter(|_| refuses) {
            let mut bad = Vec::new();
            if let Some(max) = l.max {
                bad.push(max + 1);
            }
            if let Some(min) = l.min.filter(|m| *m > 0) {
                bad.push(min - 1);
            }
            for n in bad {
                let name = format!("GET {} with {}={n} is refused", op.path, l.param);
                self.expect(
                    name,
                    op_i,
                    &op.path,
                    &[(l.param.clone(), n.to_string())],
                    true,
                    Expect::Refusal,
                );
            }
        }
        // A malformed page token.
        if let Paging::PageToken { param } = &x.paging
            && refuses
        {
            let name = format!("GET {} with a malformed {param} is refused", op.path);
            self.expect(
                name,
                op_i,
                &op.path,
                &[(param.clone(), "not-a-page-token".into())],
                true,
                Expect::Refusal,
            );
        }
        // An unknown cursor: answered as documented (the vendor may ignore it or refuse it).
        if let Paging::Cursor { after, .. } = &x.paging {
            let mut check = Check::new(format!(
                "GET {} with an unknown {after} cursor is answered as documented",
                op.path
            ));
            self.send(
                &mut check,
                op_i,
                &op.path,
                &[(after.clone(), "understudy-no-such-cursor".into())],
                true,
            );
            self.report.checks.push(check);
        }
        // Missing credentials.
        if !op.security.is_empty() {
            let name = format!("GET {} without credentials is refused", op.path);
            self.expect(name, op_i, &op.path, &[], false, Expect::Status(401));
        }
        // An unknown id.
        if let Some((di, dop, param)) = Self::detail_op(self.api, op, b) {
            let known: HashSet<String> = items.iter().map(|i| key_of(i, key)).collect();
            let pattern = dop
                .bound
                .as_ref()
                .and_then(|d| d.action.key_pattern())
                .cloned();
            let unknown = items
                .first()
                .map(|i| key_of(i, key))
                .and_then(|k| mutate_key(&k, &known, pattern.as_ref()))
                .unwrap_or_else(|| "understudy-no-such-item".to_string());
            let path = Self::detail_path(dop, &param, &unknown);
            let name = format!("GET {} with an unknown id answers 404", dop.path);
            self.expect(name, di, &path, &[], true, Expect::Status(404));
        }
    }

    /// Send a request that the contract says must be answered with `want` and record a check.
    fn expect(
        &mut self,
        name: String,
        op_i: usize,
        path: &str,
        q: &[(String, String)],
        auth: bool,
        want: Expect,
    ) {
        let mut check = Check::new(name);
        let request = format!("GET {}", self.url(path, q));
        if let Some(r) = self.send(&mut check, op_i, path, q, auth) {
            let (ok, wanted) = match want {
                Expect::Refusal => ((400..500).contains(&r.status), "a 4xx refusal".to_string()),
                Expect::Status(s) => (r.status == s, s.to_string()),
            };
            if !ok {
                check.fail(
                    Kind::Unexpected,
                    &request,
                    format!("expected {wanted}, got {}", r.status),
                );
            }
        }
        self.report.checks.push(check);
    }
}

fn key_of(item: &Value, key: &str) -> String {
    match item.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

fn keys(items: &[Value], key: &str) -> Vec<String> {
    items.iter().map(|i| key_of(i, key)).collect()
}

/// A key shaped like `k` (same pattern) that is not among `known`.
fn mutate_key(k: &str, known: &HashSet<String>, pattern: Option<&regex::Regex>) -> Option<String> {
    let chars: Vec<char> = k.chars().collect();
    for pos in (0..chars.len()).rev() {
        let c = chars[pos];
        let repl = match c {
            '0'..='8' | 'a'..='e' => char::from(c as u8 + 1),
            '9' => '0',
            'f' => 'a',
            _ => continue,
        };
        let mut cand = chars.clone();
        cand[pos] = repl;
        let cand: String = cand.into_iter().collect();
        if !known.contains(&cand) && pattern.is_none_or(|p| p.is_match(&cand)) {
            return Some(cand);
        }
    }
    None
}

/// Whether a list shows `list` of a value the detail shows as `detail`: equal, or for objects
/// each field the list shows agrees (a list item may be a projection with fewer nested fields,
/// as a document's list schema says).
fn shown_by(list: &Value, detail: &Value) -> bool {
    match (list, detail) {
        (Value::Object(l), Value::Object(d)) => l
            .iter()
            .all(|(k, lv)| d.get(k).is_some_and(|dv| shown_by(lv, dv))),
        _ => list == detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutated_keys_keep_their_shape() {
        let re = regex::Regex::new("^agent_[0-9a-f]{4}$").unwrap();
        let known: HashSet<String> = ["agent_00a1".to_string()].into();
        let m = mutate_key("agent_00a1", &known, Some(&re)).unwrap();
        assert!(re.is_match(&m) && m != "agent_00a1", "{m}");
    }
}
