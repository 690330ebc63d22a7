//! The front door of a document: which OpenAPI version it is (3.0 and 3.1 load, Swagger 2.0
//! gets a message saying how to convert it, anything else is refused), and the structural
//! checks made before anything is compiled. Each structural problem is reported on its own, so
//! that a document that cannot load shows every problem at once.

use serde_json::Value;

use super::schema::Dialect;
use crate::error::{Error, Result};

/// The dialect of `doc`, from its `openapi` field.
pub(super) fn dialect(file: &str, doc: &Value) -> Result<Dialect> {
    if !doc.is_object() {
        return Err(Error::spec(
            file,
            "(document)",
            "not an OpenAPI document: the file is not a mapping",
        ));
    }
    if let Some(v) = doc.get("swagger") {
        return Err(Error::spec(
            file,
            "swagger",
            format!(
                "this is a Swagger {} (OpenAPI 2) document; understudy reads OpenAPI 3.0 and 3.1. \
                 Convert it first, for example with `npx swagger2openapi {file} -o {}` or at \
                 https://converter.swagger.io, and load the result",
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
                converted_name(file)
            ),
        ));
    }
    let version = match doc.get("openapi") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(Error::spec(
                file,
                "openapi",
                format!("the version must be a string such as \"3.1.0\", not {other}"),
            ));
        }
        None => {
            return Err(Error::spec(
                file,
                "(document)",
                "not an OpenAPI document: no `openapi` version field",
            ));
        }
    };
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some("3"), Some("0")) => Ok(Dialect::V30),
        // 3.2 keeps 3.1's schema dialect.
        (Some("3"), Some("1" | "2")) => Ok(Dialect::V31),
        _ => Err(Error::spec(
            file,
            "openapi",
            format!("OpenAPI {version} is not supported (3.0.x and 3.1.x are)"),
        )),
    }
}

/// `x.yaml` -> `x.openapi3.yaml`, for the conversion hint.
fn converted_name(file: &str) -> String {
    let name = std::path::Path::new(file)
        .file_name()
        .map_or_else(|| file.to_string(), |n| n.to_string_lossy().to_string());
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.openapi3.{ext}"),
        None => format!("{name}.openapi3.yaml"),
    }
}

/// Structural problems of the document (each one an error; empty when sound).
pub(super) fn structure(file: &str, doc: &Value) -> Vec<Error> {
    let mut out = Vec::new();
    match doc.get("paths") {
        None | Some(Value::Null) => {}
        Some(Value::Object(paths)) => {
            for (path, item) in paths {
                if !path.starts_with('/') {
                    out.push(Error::spec(
                        file,
                        format!("paths.{path}"),
                        "a path must start with '/'",
                    ));
                }
                if !item.is_object() {
                    out.push(Error::spec(
                        file,
                        format!("paths.{path}"),
                        "a path item must be a mapping",
                    ));
                }
            }
        }
        Some(_) => out.push(Error::spec(file, "paths", "must be a mapping of paths")),
    }
    for key in ["components", "info"] {
        if let Some(v) = doc.get(key)
            && !v.is_object()
        {
            out.push(Error::spec(file, key, "must be a mapping"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions() {
        assert_eq!(
            dialect("a", &json!({"openapi": "3.0.3"})).unwrap(),
            Dialect::V30
        );
        assert_eq!(
            dialect("a", &json!({"openapi": "3.1.0"})).unwrap(),
            Dialect::V31
        );
        let e = dialect("specs/x.json", &json!({"swagger": "2.0"}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Swagger 2.0")
                && e.contains("swagger2openapi")
                && e.contains("x.openapi3.json"),
            "{e}"
        );
        assert!(dialect("a", &json!({"openapi": "4.0"})).is_err());
        assert!(dialect("a", &json!({"info": {}})).is_err());
    }

    #[test]
    fn every_structural_problem_is_reported() {
        let p = structure(
            "a",
            &json!({"info": 1, "paths": {"x": {}, "/y": 2, "/z": {}}}),
        );
        assert_eq!(p.len(), 3, "{p:?}");
    }
}
