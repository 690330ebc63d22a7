use serde_json::json;

use super::*;

fn doc(paths: Value, schemas: Value) -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn ok(schema: Value) -> Value {
    json!({"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}})
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

fn op<'a>(inf: &'a Inferred, path: &str) -> Option<&'a Value> {
    inf.operations
        .iter()
        .find(|(p, m, _)| p == path && m == "get")
        .map(|(_, _, x)| x)
}

/// The document with the inferred extensions merged in, loaded by the spec loader: the
/// inference must pass every check an operation extension is held to.
fn loads(d: &Value, inf: &Inferred) {
    let mut d = d.clone();
    let mut colls = inf.collections.clone();
    for c in colls.values_mut() {
        if let Some(m) = c.as_object_mut() {
            m.entry("count").or_insert(json!(5));
        }
    }
    d["x-understudy"] = json!({"collections": colls});
    for (path, method, x) in &inf.operations {
        d["paths"][path][method]["x-understudy"] = x.clone();
    }
    let text = serde_json::to_string(&d).unwrap();
    if let Err(e) = crate::spec::load_str("specs/inferred.json", &text) {
        panic!("inferred extensions do not load: {e}");
    }
}

fn thing() -> Value {
    json!({"type": "object", "required": ["id"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}}})
}

#[test]
fn bare_array_list_pairs_with_its_detail() {
    let d = doc(
        json!({
            "/things/": {"get": {
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                "responses": ok(json!({"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}))}},
            "/things/{thing_id}": {"get": {
                "parameters": [path_param("thing_id")],
                "responses": ok(json!({"$ref": "#/components/schemas/Thing"}))}},
        }),
        json!({"Thing": thing()}),
    );
    let inf = infer(&d);
    assert_eq!(
        inf.collections.get("things"),
        Some(&json!({"schemas": ["Thing"], "key": "id"}))
    );
    assert_eq!(
        op(&inf, "/things/"),
        Some(&json!({"action": "list", "collection": "things", "items": ""}))
    );
    assert_eq!(
        op(&inf, "/things/{thing_id}"),
        Some(&json!({"action": "get", "collection": "things", "key-param": "thing_id"}))
    );
    loads(&d, &inf);
}

#[test]
fn envelope_with_id_cursor() {
    let d = doc(
        json!({
            "/things": {"get": {
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 10, "minimum": 1, "maximum": 100}},
                    {"name": "after", "in": "query", "schema": {"type": "string"}},
                    {"name": "before", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": ok(json!({"type": "object", "required": ["data", "more"], "properties": {
                    "kind": {"type": "string", "enum": ["page"]},
                    "data": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}},
                    "more": {"type": "boolean"}}}))}},
            "/things/{thing_id}": {"get": {
                "parameters": [path_param("thing_id")],
                "responses": ok(json!({"$ref": "#/components/schemas/Thing"}))}},
        }),
        json!({"Thing": thing()}),
    );
    let inf = infer(&d);
    assert_eq!(
        op(&inf, "/things"),
        Some(
            &json!({"action": "list", "collection": "things", "items": "/data",
            "pagination": {"style": "cursor", "cursor": {"after": "after", "before": "before"},
                "limit": {"param": "limit", "default": 10, "min": 1, "max": 100}}})
        )
    );
    loads(&d, &inf);
}

#[test]
fn suffixed_paths_with_a_patterned_nullable_key() {
    let pattern = "^TH[0-9a-fA-F]{32}$";
    let d = doc(
        json!({
            "/Owners/{OwnerKey}/Things.json": {"get": {
                "parameters": [
                    {"name": "OwnerKey", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "PageSize", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                    {"name": "PageToken", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": ok(json!({"type": "object", "properties": {
                    "things": {"type": "array", "items": {"$ref": "#/components/schemas/thing"}},
                    "next_page_uri": {"type": "string", "format": "uri", "nullable": true},
                    "page": {"type": "integer"}}}))}},
            "/Owners/{OwnerKey}/Things/{Sid}.json": {"get": {
                "parameters": [
                    {"name": "OwnerKey", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "Sid", "in": "path", "required": true, "schema": {"type": "string", "pattern": pattern}},
                ],
                "responses": ok(json!({"$ref": "#/components/schemas/thing"}))}},
        }),
        json!({"thing": {"type": "object", "properties": {
            "sid": {"type": "string", "nullable": true, "pattern": pattern},
            "owner_key": {"type": "string", "nullable": true}}}}),
    );
    let inf = infer(&d);
    assert_eq!(
        inf.collections.get("things"),
        Some(&json!({"schemas": ["thing"], "key": "sid", "fields": {"sid": {"auto": {}}}}))
    );
    // No style fits (page numbers and next-page URLs are not a page-token style).
    assert_eq!(
        op(&inf, "/Owners/{OwnerKey}/Things.json"),
        Some(&json!({"action": "list", "collection": "things", "items": "/things"}))
    );
    assert_eq!(
        op(&inf, "/Owners/{OwnerKey}/Things/{Sid}.json"),
        Some(
            &json!({"action": "get", "collection": "things", "key-param": "Sid",
            "key-pattern": pattern})
        )
    );
    loads(&d, &inf);
}

#[test]
fn offset_list_with_a_total() {
    let d = doc(
        json!({
            "/things": {"get": {
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 10, "minimum": 1, "maximum": 500}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0, "minimum": 0}},
                ],
                "responses": ok(json!({"$ref": "#/components/schemas/Things"}))}},
            "/things/{id}": {"get": {
                "parameters": [path_param("id")],
                "responses": ok(json!({"$ref": "#/components/schemas/Thing"}))}},
        }),
        json!({
            "Thing": thing(),
            "Things": {"type": "object", "required": ["data", "total_count"], "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}},
                "total_count": {"type": "integer"}}},
        }),
    );
    let inf = infer(&d);
    assert_eq!(
        op(&inf, "/things"),
        Some(
            &json!({"action": "list", "collection": "things", "items": "/data",
            "pagination": {"style": "offset", "offset": {"param": "offset"},
                "limit": {"param": "limit", "default": 10, "min": 1, "max": 500}},
            "total": "/total_count"})
        )
    );
    loads(&d, &inf);
}

#[test]
fn page_token_in_the_body_and_a_wrapped_detail() {
    let d = doc(
        json!({
            "/things": {"get": {
                "parameters": [
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {"name": "page_size", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": ok(json!({"type": "object", "properties": {
                    "entries": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}},
                    "next_cursor": {"type": "string", "nullable": true}}}))}},
            "/things/{thing_id}": {"get": {
                "parameters": [path_param("thing_id")],
                "responses": ok(json!({"type": "object", "properties": {
                    "body": {"$ref": "#/components/schemas/Thing"}}}))}},
        }),
        json!({"Thing": thing()}),
    );
    let inf = infer(&d);
    assert_eq!(
        op(&inf, "/things"),
        Some(
            &json!({"action": "list", "collection": "things", "items": "/entries",
            "pagination": {"style": "page-token", "token": {"param": "cursor"},
                "limit": {"param": "page_size", "default": 20, "max": 100}},
            "next-token": "/next_cursor"})
        )
    );
    assert_eq!(
        op(&inf, "/things/{thing_id}"),
        Some(
            &json!({"action": "get", "collection": "things", "key-param": "thing_id",
            "item": "/body"})
        )
    );
    loads(&d, &inf);
}

#[test]
fn a_list_without_a_detail_infers_nothing() {
    let d = doc(
        json!({
            "/things": {"get": {"responses": ok(json!({"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}))}},
            "/things/search": {"get": {"responses": ok(json!({"$ref": "#/components/schemas/Thing"}))}},
        }),
        json!({"Thing": thing()}),
    );
    let inf = infer(&d);
    assert!(inf.collections.is_empty() && inf.operations.is_empty());
}

#[test]
fn an_unknown_key_field_infers_nothing() {
    let d = doc(
        json!({
            "/things": {"get": {"responses": ok(json!({"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}))}},
            "/things/{handle}": {"get": {
                "parameters": [path_param("handle")],
                "responses": ok(json!({"$ref": "#/components/schemas/Thing"}))}},
        }),
        json!({"Thing": {"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}}}}),
    );
    let inf = infer(&d);
    assert!(inf.collections.is_empty() && inf.operations.is_empty());
}

#[test]
fn names_are_made_unique_and_declared_operations_are_kept() {
    let list =
        |r: &str| json!({"get": {"responses": ok(json!({"type": "array", "items": {"$ref": r}}))}});
    let detail = |r: &str| json!({"get": {"parameters": [path_param("id")], "responses": ok(json!({"$ref": r}))}});
    let mut d = doc(
        json!({
            "/files": list("#/components/schemas/Thing"),
            "/files/{id}": detail("#/components/schemas/Thing"),
            "/boxes/{box}/files": list("#/components/schemas/Thing"),
            "/boxes/{box}/files/{id}": detail("#/components/schemas/Thing"),
            "/labels": list("#/components/schemas/Thing"),
            "/labels/{id}": detail("#/components/schemas/Thing"),
        }),
        json!({"Thing": thing()}),
    );
    d["paths"]["/boxes/{box}/files"]["get"]["parameters"] = json!([path_param("box")]);
    d["paths"]["/boxes/{box}/files/{id}"]["get"]["parameters"] =
        json!([path_param("box"), path_param("id")]);
    d["x-understudy"] =
        json!({"collections": {"labels": {"count": 2, "schemas": ["Thing"], "key": "id"}}});
    d["paths"]["/labels"]["get"]["x-understudy"] =
        json!({"action": "list", "collection": "labels"});
    let inf = infer(&d);
    let names: Vec<&String> = inf.collections.keys().collect();
    assert_eq!(names, ["files", "boxes_files"]);
    assert!(op(&inf, "/labels").is_none());
    assert_eq!(
        op(&inf, "/labels/{id}"),
        Some(&json!({"action": "get", "collection": "labels", "key-param": "id"}))
    );
}

/// A list of `Thing` at `/things` and its detail by `{id}`, with `schemas` as the components.
fn things_with(schemas: Value) -> Value {
    doc(
        json!({
            "/things": {"get": {"responses": ok(json!({"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}))}},
            "/things/{id}": {"get": {
                "parameters": [path_param("id")],
                "responses": ok(json!({"$ref": "#/components/schemas/Thing"}))}},
        }),
        schemas,
    )
}

fn to(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

#[test]
fn a_schema_that_includes_itself_infers_nothing() {
    for thing in [
        json!({"allOf": [to("Thing"), to("Thing")]}),
        json!({"allOf": [to("Thing"), {"type": "object", "properties": {"id": {"type": "string"}}}]}),
        json!({"type": "object", "properties": {"id": {"type": "string"}}, "anyOf": [to("Thing"), to("Thing")]}),
    ] {
        let inf = infer(&things_with(json!({"Thing": thing})));
        assert!(inf.collections.is_empty() && inf.operations.is_empty());
    }
}

#[test]
fn mutually_including_schemas_infer_nothing() {
    let d = things_with(json!({
        "Thing": {"allOf": [to("Base"), to("Base"), {"type": "object", "properties": {"id": {"type": "string"}}}]},
        "Base": {"allOf": [to("Thing"), to("Thing"), {"properties": {"created": {"type": "string"}}}]},
    }));
    let inf = infer(&d);
    assert!(inf.collections.is_empty() && inf.operations.is_empty());
}

#[test]
fn a_wide_diamond_of_parts_infers_nothing_and_ends() {
    // Thing -> S1 twice -> S2 twice ... -> S30: 2^30 paths to the one object.
    let mut s = Map::new();
    s.insert("Thing".into(), json!({"allOf": [to("S1"), to("S1")]}));
    for i in 1..30 {
        let next = to(&format!("S{}", i + 1));
        s.insert(format!("S{i}"), json!({"allOf": [next, next]}));
    }
    s.insert("S30".into(), thing());
    let inf = infer(&things_with(Value::Object(s)));
    assert!(inf.collections.is_empty() && inf.operations.is_empty());
}

#[test]
fn a_part_shared_along_two_paths_is_read() {
    let d = things_with(json!({
        "Thing": {"allOf": [to("Named"), to("Keyed")]},
        "Named": {"allOf": [to("Base"), {"properties": {"name": {"type": "string"}}}]},
        "Keyed": {"allOf": [to("Base"), {"required": ["id"], "properties": {"id": {"type": "string"}}}]},
        "Base": {"type": "object", "properties": {"created": {"type": "string", "format": "date-time"}}},
    }));
    let inf = infer(&d);
    assert_eq!(
        inf.collections.get("things"),
        Some(&json!({"schemas": ["Thing"], "key": "id"}))
    );
    loads(&d, &inf);
}

#[test]
fn keys_that_could_repeat_are_numbered_or_refused() {
    let keyed = |id: Value| {
        things_with(
            json!({"Thing": {"type": "object", "required": ["id"], "properties": {
            "id": id, "name": {"type": "string"}}}}),
        )
    };
    // A thousand possible values: no key generation is unique, nothing is inferred.
    let inf = infer(&keyed(json!({"type": "string", "pattern": "^[0-9]{1,3}$"})));
    assert!(inf.collections.is_empty() && inf.operations.is_empty());
    // UUIDs cut to 12 characters could repeat: numbered keys fit.
    let d = keyed(json!({"type": "string", "maxLength": 12}));
    let inf = infer(&d);
    assert_eq!(
        inf.collections.get("things"),
        Some(
            &json!({"schemas": ["Thing"], "key": "id", "fields": {"id": {"template": "id-{index}"}}})
        )
    );
    loads(&d, &inf);
}

fn write_op<'a>(inf: &'a Inferred, path: &str, method: &str) -> Option<&'a Value> {
    inf.operations
        .iter()
        .find(|(p, m, _)| p == path && m == method)
        .map(|(_, _, x)| x)
}

#[test]
fn writes_beside_a_pair_are_inferred_with_their_replies() {
    let body = json!({"required": true, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"name": {"type": "string"}}}}}});
    let thing_ref = json!({"$ref": "#/components/schemas/Thing"});
    let d = doc(
        json!({
            "/things": {
                "get": {"responses": ok(json!({"type": "array", "items": thing_ref}))},
                "post": {"requestBody": body, "responses": {"201": {"description": "made",
                    "content": {"application/json": {"schema": thing_ref}}}}},
            },
            "/things/{id}": {
                "parameters": [path_param("id")],
                "get": {"responses": ok(thing_ref.clone())},
                "patch": {"requestBody": body, "responses": ok(thing_ref.clone())},
                "delete": {"responses": {"204": {"description": "gone"}}},
                // A body that is not the entity: no update is inferred from it.
                "put": {"requestBody": body, "responses": ok(json!({"type": "object",
                    "properties": {"queued": {"type": "boolean"}}}))},
            },
        }),
        json!({"Thing": thing()}),
    );
    let inf = infer(&d);
    let create = write_op(&inf, "/things", "post").expect("a create");
    assert_eq!(create["action"], "create");
    assert_eq!(create["reply"], "entity");
    let update = write_op(&inf, "/things/{id}", "patch").expect("an update");
    assert_eq!(update["action"], "update");
    assert_eq!(update["key-param"], "id");
    let delete = write_op(&inf, "/things/{id}", "delete").expect("a delete");
    assert_eq!(delete["reply"], "empty");
    assert!(write_op(&inf, "/things/{id}", "put").is_none());
    loads(&d, &inf);
}

#[test]
fn a_union_answer_is_no_entity_reply_and_the_reads_still_load() {
    let body = json!({"content": {"application/json": {"schema": {"type": "object"}}}});
    let union = json!({"anyOf": [
        {"$ref": "#/components/schemas/Thing"}, {"$ref": "#/components/schemas/Other"}]});
    let d = doc(
        json!({
            "/things": {"get": {"responses": ok(json!({"type": "array",
                "items": {"$ref": "#/components/schemas/Thing"}}))}},
            "/things/{id}": {
                "parameters": [path_param("id")],
                "get": {"responses": ok(union.clone())},
                "put": {"requestBody": body, "responses": ok(union)},
            },
        }),
        json!({"Thing": thing(), "Other": thing()}),
    );
    let inf = infer(&d);
    assert!(op(&inf, "/things").is_some(), "the list is still inferred");
    assert!(write_op(&inf, "/things/{id}", "put").is_none());
    loads(&d, &inf);
}
