//! How a written entity is checked against its collection's component schemas: whole, or,
//! where every component is a plain object schema (properties, required, additional
//! properties and nothing that relates one field to another), only in the fields a write
//! changed. An update of one field of a valid entity then checks that field and the
//! presence of the required ones, not the whole entity again.

use serde_json::Value;

use crate::contract::Schemas;
use crate::data::FastMap;
use crate::spec::schema::escape;

/// The checks of one collection's entities, made on its first write.
pub(super) struct EntityChecks {
    /// One validator per component schema (those that do not compile are left out).
    whole: Vec<jsonschema::Validator>,
    /// Per component, its fields' own checks: `None` where a component is not plain.
    fields: Option<Vec<FieldChecks>>,
}

/// A plain object schema's checks, field by field.
struct FieldChecks {
    required: Vec<String>,
    props: FastMap<String, jsonschema::Validator>,
    others: Others,
}

/// What a plain object schema says of fields it does not declare.
enum Others {
    Allowed,
    Refused,
    Checked(jsonschema::Validator),
}

/// The keywords a plain object schema may have at its root: the ones that say nothing of how
/// its fields relate to one another (annotations, and `x-` extensions).
const PLAIN: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "title",
    "description",
    "example",
    "examples",
    "nullable",
    "readOnly",
    "writeOnly",
    "deprecated",
    "externalDocs",
    "xml",
    "default",
    "$comment",
];

impl EntityChecks {
    /// The checks of an entity that merges the component schemas `names` of `doc`.
    pub(super) fn new(doc: &Value, schemas: &Schemas, names: &[String]) -> EntityChecks {
        let whole = names
            .iter()
            .filter_map(|n| schemas.component(n).ok())
            .collect();
        let fields = names
            .iter()
            .map(|n| FieldChecks::new(doc, schemas, n))
            .collect();
        EntityChecks { whole, fields }
    }

    /// The validators of the whole entity.
    pub(super) fn whole(&self) -> &[jsonschema::Validator] {
        &self.whole
    }

    /// Whether `e`, valid before its top-level fields `changed` (and only they) changed, is
    /// valid now; `None` where this cannot be told field by field.
    pub(super) fn changed_valid(&self, e: &Value, changed: &[String]) -> Option<bool> {
        let (Value::Object(m), Some(fields)) = (e, &self.fields) else {
            return None;
        };
        // Each changed field once: its value, or its absence (a required field removed).
        let values: Vec<Option<&Value>> = changed.iter().map(|k| m.get(k)).collect();
        Some(fields.iter().all(|f| {
            changed
                .iter()
                .zip(&values)
                .all(|(k, v)| match (v, f.props.get(k), &f.others) {
                    (None, ..) => !f.required.contains(k),
                    (Some(v), Some(check), _) | (Some(v), None, Others::Checked(check)) => {
                        check.is_valid(v)
                    }
                    (Some(_), None, Others::Allowed) => true,
                    (Some(_), None, Others::Refused) => false,
                })
        }))
    }
}

impl FieldChecks {
    /// The field checks of component `name`, if it is a plain object schema whose parts all
    /// compile.
    fn new(doc: &Value, schemas: &Schemas, name: &str) -> Option<FieldChecks> {
        let at = format!("#/components/schemas/{}", escape(name));
        let schema = doc.pointer(&at[1..])?.as_object()?;
        let plain = schema
            .keys()
            .all(|k| k.starts_with("x-") || PLAIN.contains(&k.as_str()));
        let typed_object = match schema.get("type") {
            None => true,
            Some(Value::String(t)) => t == "object",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
            Some(_) => false,
        };
        if !plain || !typed_object {
            return None;
        }
        let check = |pointer: String| {
            schemas
                .validator(&serde_json::json!({ "$ref": pointer }))
                .ok()
        };
        let mut props = FastMap::default();
        if let Some(p) = schema.get("properties") {
            for k in p.as_object()?.keys() {
                let v = check(format!("{at}/properties/{}", escape(k)))?;
                props.insert(k.clone(), v);
            }
        }
        let required = match schema.get("required") {
            None => Vec::new(),
            Some(r) => r
                .as_array()?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<_>>()?,
        };
        let others = match schema.get("additionalProperties") {
            None | Some(Value::Bool(true)) => Others::Allowed,
            Some(Value::Bool(false)) => Others::Refused,
            Some(Value::Object(_)) => Others::Checked(check(format!("{at}/additionalProperties"))?),
            Some(_) => return None,
        };
        Some(FieldChecks {
            required,
            props,
            others,
        })
    }
}
