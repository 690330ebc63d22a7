//! Loading one operation of a spec (parameters, security, responses, its `x-understudy`
//! extension) and the security schemes, with the cross-checks between an extension and the
//! rest of the document. Errors name the file and the location.

use std::collections::BTreeMap;
use std::sync::Arc;

use regex::Regex;
use serde_json::{Map, Value};

use super::ext::{self, OperationExt, SchemeExt};
use super::schema::Compiler;
use super::{Operation, Param, ParamIn, ResponseDef, Scheme, SchemeKind};
use crate::data::CollectionModel;
use crate::error::{Error, Result};

pub(super) fn security_of(v: Option<&Value>) -> Option<Vec<Vec<String>>> {
    let list = v?.as_array()?;
    Some(
        list.iter()
            .map(|req| {
                req.as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default()
            })
            .collect(),
    )
}

pub(super) fn load_schemes(file: &str, doc: &Value) -> Result<BTreeMap<String, Scheme>> {
    let mut out = BTreeMap::new();
    let Some(schemes) = doc
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object)
    else {
        return Ok(out);
    };
    for (name, s) in schemes {
        let loc = format!("components.securitySchemes.{name}");
        let s = deref(file, doc, s, &loc)?;
        let ty = s.get("type").and_then(Value::as_str).unwrap_or("");
        let key_name = s.get("name").and_then(Value::as_str).unwrap_or("");
        let kind = match ty {
            "http" => match s
                .get("scheme")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("bearer") => SchemeKind::Bearer,
                Some("basic") => SchemeKind::Basic,
                other => SchemeKind::Unchecked(format!("http {}", other.unwrap_or("?"))),
            },
            "oauth2" | "openIdConnect" => SchemeKind::Bearer,
            "apiKey" if key_name.is_empty() => {
                return Err(Error::spec(file, &loc, "an apiKey scheme needs a name"));
            }
            "apiKey" => match s.get("in").and_then(Value::as_str) {
                Some("header") => SchemeKind::Header(key_name.to_ascii_lowercase()),
                Some("query") => SchemeKind::Query(key_name.to_string()),
                Some("cookie") => SchemeKind::Cookie(key_name.to_string()),
                other => {
                    return Err(Error::spec(
                        file,
                        format!("{loc}.in"),
                        format!(
                            "an apiKey is in header, query or cookie, not {}",
                            other.unwrap_or("(missing)")
                        ),
                    ));
                }
            },
            other => SchemeKind::Unchecked(other.to_string()),
        };
        let sext: SchemeExt = match s.get("x-understudy") {
            Some(v) => ext::parse(file, &format!("{loc}.x-understudy"), v)?,
            None => SchemeExt::default(),
        };
        let token_pattern = sext
            .token_pattern
            .map(|p| {
                Regex::new(&p).map_err(|e| {
                    Error::spec(
                        file,
                        format!("{loc}.x-understudy.token-pattern"),
                        e.to_string(),
                    )
                })
            })
            .transpose()?;
        out.insert(
            name.clone(),
            Scheme {
                kind,
                token_pattern,
            },
        );
    }
    Ok(out)
}

/// A parameter's schema in the one spelling the parameter checks read (3.0's): a 3.1 type
/// list or an `anyOf`/`oneOf` with a `null` branch becomes one `type` and `nullable`, a
/// numeric `exclusiveMinimum` becomes `minimum` with the flag, `const` a one-value `enum`.
fn flat_param_schema(file: &str, doc: &Value, s: &Value, loc: &str) -> Result<Value> {
    let Some(m) = s.as_object() else {
        return Ok(s.clone());
    };
    let mut out = m.clone();
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alts)) = m.get(key) {
            let mut rest = Vec::new();
            let mut null = false;
            for a in alts {
                let a = deref(file, doc, a, loc)?;
                if a.get("type").and_then(Value::as_str) == Some("null") {
                    null = true;
                } else {
                    rest.push(a);
                }
            }
            if rest.len() == 1 {
                out.remove(key);
                let inner = flat_param_schema(file, doc, rest[0], loc)?;
                if let Value::Object(i) = inner {
                    for (k, v) in i {
                        out.entry(k).or_insert(v);
                    }
                }
                if null {
                    out.insert("nullable".into(), Value::Bool(true));
                }
            }
        }
    }
    if let Some(Value::Array(types)) = m.get("type") {
        let named: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
        if types.iter().any(|t| t == "null") {
            out.insert("nullable".into(), Value::Bool(true));
        }
        match named.as_slice() {
            [one] => {
                out.insert("type".into(), (*one).clone());
            }
            _ => {
                out.remove("type");
            }
        }
    }
    for (plain, excl) in [
        ("minimum", "exclusiveMinimum"),
        ("maximum", "exclusiveMaximum"),
    ] {
        if let Some(b @ Value::Number(_)) = m.get(excl) {
            out.insert(plain.into(), b.clone());
            out.insert(excl.into(), Value::Bool(true));
        }
    }
    if let Some(c) = m.get("const") {
        out.insert("enum".into(), Value::Array(vec![c.clone()]));
    }
    if let Some(items) = m.get("items") {
        let items = deref(file, doc, items, loc)?;
        out.insert("items".into(), flat_param_schema(file, doc, items, loc)?);
    }
    Ok(Value::Object(out))
}

/// `v`, or what its local `$ref` points to in `doc`.
pub(super) fn deref<'a>(file: &str, doc: &'a Value, v: &'a Value, loc: &str) -> Result<&'a Value> {
    match v.get("$ref").and_then(Value::as_str) {
        None => Ok(v),
        Some(r) => super::schema::resolve_ref(doc, r).map_err(|m| Error::spec(file, loc, m)),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn load_operation(
    file: &str,
    doc: &Value,
    compiler: &Compiler,
    path: &str,
    method: &str,
    item: &Value,
    op: &Value,
    root_security: &Option<Vec<Vec<String>>>,
    models: &BTreeMap<String, Arc<CollectionModel>>,
    schemes: &BTreeMap<String, Scheme>,
) -> Result<Operation> {
    let loc = format!("paths.{path}.{method}");
    let segments = super::path_segments(path);
    let mut params: Vec<Param> = Vec::new();
    let item_params = item.get("parameters").and_then(Value::as_array);
    let op_params = op.get("parameters").and_then(Value::as_array);
    for (i, p) in item_params
        .into_iter()
        .flatten()
        .chain(op_params.into_iter().flatten())
        .enumerate()
    {
        let ploc = format!("{loc}.parameters[{i}]");
        let p = deref(file, doc, p, &ploc)?;
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let location = match p.get("in").and_then(Value::as_str) {
            Some("query") => ParamIn::Query,
            Some("path") => ParamIn::Path,
            Some("header") => ParamIn::Header,
            _ => continue, // cookies are not checked
        };
        let schema = match p.get("schema") {
            Some(s) => flat_param_schema(file, doc, deref(file, doc, s, &ploc)?, &ploc)?,
            None => Value::Object(Map::new()),
        };
        let style = p
            .get("style")
            .and_then(Value::as_str)
            .unwrap_or(match location {
                ParamIn::Query => "form",
                _ => "simple",
            });
        let explode = p
            .get("explode")
            .and_then(Value::as_bool)
            .unwrap_or(style == "form");
        let delimiter = match style {
            "form" if explode => None,
            "spaceDelimited" => Some(' '),
            "pipeDelimited" => Some('|'),
            _ => Some(','),
        };
        let example = p
            .get("example")
            .or_else(|| schema.get("example"))
            .or_else(|| schema.get("default"))
            .or_else(|| schema.pointer("/enum/0"))
            .cloned();
        let (rule, null_is_absent) = super::param::ParamRule::of(&schema);
        let param = Param {
            rule,
            null_is_absent,
            example,
            delimiter,
            required: p.get("required").and_then(Value::as_bool).unwrap_or(false)
                || location == ParamIn::Path,
            name,
            location,
            schema,
        };
        // Operation-level parameters override path-level ones of the same name and location.
        params.retain(|q| !(q.name == param.name && q.location == param.location));
        params.push(param);
    }
    let security = security_of(op.get("security"))
        .or_else(|| root_security.clone())
        .unwrap_or_default();
    for alt in &security {
        for s in alt {
            if !schemes.contains_key(s) {
                return Err(Error::spec(
                    file,
                    format!("{loc}.security"),
                    format!("unknown security scheme '{s}'"),
                ));
            }
        }
    }
    let request_body = match op.get("requestBody") {
        Some(b) => {
            let b = deref(file, doc, b, &format!("{loc}.requestBody"))?;
            b.pointer("/content/application~1json/schema")
                .map(|schema| {
                    let required = b.get("required").and_then(Value::as_bool).unwrap_or(false);
                    (required, schema.clone())
                })
        }
        None => None,
    };
    let mut responses = Vec::new();
    if let Some(rs) = op.get("responses").and_then(Value::as_object) {
        for (status, r) in rs {
            let rloc = format!("{loc}.responses.{status}");
            let r = deref(file, doc, r, &rloc)?;
            // The JSON body's schema (non-JSON bodies are not validated).
            let schema = r
                .pointer("/content/application~1json/schema")
                .cloned()
                .or_else(|| {
                    r.get("content")
                        .and_then(Value::as_object)
                        .and_then(|c| c.iter().find(|(t, _)| is_json(t)))
                        .and_then(|(_, m)| m.get("schema"))
                        .cloned()
                });
            let node = match &schema {
                Some(s) => Some(compiler.compile(s, &format!("{rloc}.schema"))?),
                None => None,
            };
            let headers = documented_headers(file, doc, compiler, r, &rloc, models)?;
            responses.push(ResponseDef {
                code: super::StatusKey::parse(status),
                status: status.clone(),
                schema,
                node,
                required_headers: headers.required,
                headers: headers.values,
                request_id_uuid: headers.request_id_uuid,
                links: headers.links,
                error_model: Default::default(),
            });
        }
    }
    let opext: Option<OperationExt> = match op.get("x-understudy") {
        Some(v) => Some(ext::parse(file, &format!("{loc}.x-understudy"), v)?),
        None => None,
    };
    let bound = match opext {
        Some(x) => {
            // What a write's body may set is read from it; a schema beyond the compiler
            // leaves the write to accept every entity field.
            let request = request_body
                .as_ref()
                .and_then(|(_, s)| compiler.compile(s, &format!("{loc}.requestBody")).ok());
            let cx = super::resolve::Context {
                file,
                loc: &loc,
                models,
                params: &params,
                responses: &responses,
                request: request.as_ref(),
            };
            Some(super::resolve::resolve(&cx, x)?)
        }
        None => None,
    };
    // Every operation has one: an operation with an action falls back to it for an unknown
    // key whose 404 it does not document.
    let generated = Some(generated_answer(file, &loc, compiler, doc, op, models)?);
    Ok(Operation {
        id: op
            .get("operationId")
            .and_then(Value::as_str)
            .map(str::to_string),
        inferred: false,
        generated,
        method: method.to_ascii_uppercase(),
        path: path.to_string(),
        segments,
        params,
        security,
        bound,
        responses,
        request_body,
    })
}

/// The answer of an operation without an action: the lowest documented 2xx status (else the
/// lowest documented status below 400, else 200), with a body made from its first media type
/// (JSON preferred).
fn generated_answer(
    file: &str,
    loc: &str,
    compiler: &Compiler,
    doc: &Value,
    op: &Value,
    models: &BTreeMap<String, Arc<CollectionModel>>,
) -> Result<super::Generated> {
    use super::{Generated, GeneratedBody};
    let responses = op.get("responses").and_then(Value::as_object);
    let numeric: Vec<(u16, &Value)> = responses
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.parse::<u16>().ok()?, v)))
        .collect();
    let pick = numeric
        .iter()
        .filter(|(s, _)| (200..300).contains(s))
        .min_by_key(|(s, _)| *s)
        .or_else(|| {
            numeric
                .iter()
                .filter(|(s, _)| (100..400).contains(s) && *s != 101)
                .min_by_key(|(s, _)| *s)
        })
        .map(|(s, v)| (*s, *v))
        .or_else(|| Some((200, responses?.get("default")?)));
    // Only errors documented: a 501 when the document lists it (the operation is documented
    // as not answering), else an empty 200.
    if pick.is_none() && numeric.iter().any(|(s, _)| *s == 501) {
        return Ok(Generated {
            status: 501,
            body: GeneratedBody::Empty,
        });
    }
    let Some((status, resp)) = pick else {
        return Ok(Generated {
            status: 200,
            body: GeneratedBody::Empty,
        });
    };
    let rloc = format!("{loc}.responses.{status}");
    let resp = deref(file, doc, resp, &rloc)?;
    let content = resp.get("content").and_then(Value::as_object);
    let model = |schema: &Value, mloc: &str| -> Result<Arc<CollectionModel>> {
        let node = compiler.compile(schema, mloc)?;
        Ok(Arc::new(CollectionModel::for_body(
            file,
            loc,
            &format!("{loc}.response"),
            node,
            &BTreeMap::new(),
            models,
        )?))
    };
    let body = match content {
        _ if status == 204 || status == 304 => GeneratedBody::Empty,
        None => GeneratedBody::Empty,
        Some(c) if c.is_empty() => GeneratedBody::Empty,
        Some(c) => {
            let json = c
                .iter()
                .find(|(t, _)| is_json(t))
                .or_else(|| c.iter().find(|(t, _)| t.as_str() == "*/*"));
            let sse = c.iter().find(|(t, _)| t.starts_with("text/event-stream"));
            match (json, sse) {
                (Some((t, m)), _) => {
                    let mloc = format!("{rloc}.content.{t}.schema");
                    let schema = m.get("schema").cloned().unwrap_or(Value::Bool(true));
                    GeneratedBody::Json {
                        content_type: if t == "*/*" {
                            "application/json".to_string()
                        } else {
                            t.clone()
                        },
                        model: model(&schema, &mloc)?,
                    }
                }
                (None, Some((t, m))) => GeneratedBody::EventStream {
                    model: match m.get("schema") {
                        Some(s) if !s.get("type").is_some_and(|t| t == "string") => {
                            Some(model(s, &format!("{rloc}.content.{t}.schema"))?)
                        }
                        _ => None,
                    },
                },
                (None, None) => GeneratedBody::Other {
                    content_type: c.keys().next().cloned().unwrap_or_default(),
                },
            }
        }
    };
    Ok(Generated { status, body })
}

/// What a response's documented headers ask of an answer.
struct DocumentedHeaders {
    /// Names marked required.
    required: Vec<String>,
    /// Headers understudy does not set itself, each with a value made once from its schema
    /// (its example, else generated): answers carry them, as the real service's would.
    /// Framing headers and `Link` (whose targets a client would follow) are left to the server.
    values: Vec<(String, String)>,
    /// `X-Request-Id` documented as a UUID.
    request_id_uuid: bool,
    /// A `Link` header documented.
    links: bool,
}

/// The documented headers of response `r`, read in one pass.
fn documented_headers(
    file: &str,
    doc: &Value,
    compiler: &Compiler,
    r: &Value,
    rloc: &str,
    models: &BTreeMap<String, Arc<CollectionModel>>,
) -> Result<DocumentedHeaders> {
    const SKIP: &[&str] = &[
        "content-type",
        "content-length",
        "transfer-encoding",
        "connection",
        "link",
        "x-request-id",
        "retry-after",
        "date",
    ];
    let mut out = DocumentedHeaders {
        required: Vec::new(),
        values: Vec::new(),
        request_id_uuid: false,
        links: false,
    };
    let Some(hs) = r.get("headers").and_then(Value::as_object) else {
        return Ok(out);
    };
    for (name, h) in hs {
        let lower = name.to_ascii_lowercase();
        let hloc = format!("{rloc}.headers.{name}");
        let h = deref(file, doc, h, &hloc)?;
        let schema = match h.get("schema") {
            Some(s) => deref(file, doc, s, &hloc)?.clone(),
            None => Value::Object(Map::new()),
        };
        if h.get("required").and_then(Value::as_bool) == Some(true) {
            out.required.push(name.clone());
        }
        out.links |= lower == "link";
        out.request_id_uuid |=
            lower == "x-request-id" && schema.get("format").and_then(Value::as_str) == Some("uuid");
        if SKIP.contains(&lower.as_str()) || http::HeaderName::from_bytes(lower.as_bytes()).is_err()
        {
            continue;
        }
        let value = match h.get("example").or_else(|| schema.get("example")) {
            Some(v) => v.clone(),
            None => {
                let node = compiler.compile(&schema, &format!("{hloc}.schema"))?;
                let model =
                    CollectionModel::for_body(file, &hloc, &hloc, node, &BTreeMap::new(), models)?;
                crate::data::Entity::new(&model, 0x6865_6164, 0).full()
            }
        };
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        if http::HeaderValue::from_str(&text).is_ok() {
            out.values.push((lower, text));
        }
    }
    Ok(out)
}

/// Whether a media type is JSON (`application/json`, `application/problem+json`, ...).
pub(super) fn is_json(media: &str) -> bool {
    let m = media.split(';').next().unwrap_or("").trim();
    m == "application/json" || m.ends_with("+json") || m == "text/json"
}
