//! Tool argument schemas every MCP client accepts. schemars describes an `Option<T>` field as
//! `"type": ["string", "null"]` (or an `anyOf` with `{"type": "null"}`, a `null` in `enum`, a
//! `"default": null`). Some clients reject type arrays (Gemini-style function declarations) and
//! the MCP Inspector's `--strict` mode warns on them, so an optional argument is described as
//! absent-or-typed instead: its plain type, left out of `required`. The arguments still
//! deserialize as `Option<T>`, so a client that sends `null` for one is accepted as before.

use rmcp::schemars::Schema;
use rmcp::schemars::transform::{RecursiveTransform, Transform};
use serde_json::Value;

/// Rewrites `schema` and its subschemas so that no optional value is typed as `null`. Used as
/// `#[schemars(transform = absent_or_typed)]` on argument structs with optional fields.
pub(super) fn absent_or_typed(schema: &mut Schema) {
    RecursiveTransform(drop_null).transform(schema);
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

fn drop_null(schema: &mut Schema) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(branches)) = obj.get_mut(key) else {
            continue;
        };
        branches.retain(|b| !is_null_schema(b));
        if branches.len() != 1 || !branches[0].is_object() {
            continue;
        }
        // `anyOf: [T, null]` was the optional T: T itself, under the field's own description.
        if let Some(Value::Array(mut only)) = obj.remove(key)
            && let Some(Value::Object(only)) = only.pop()
        {
            for (k, v) in only {
                obj.entry(k).or_insert(v);
            }
        }
    }
    if let Some(Value::Array(types)) = obj.get_mut("type") {
        types.retain(|t| t.as_str() != Some("null"));
        if let [single] = types.as_slice() {
            let single = single.clone();
            obj.insert("type".into(), single);
        }
    }
    if let Some(Value::Array(values)) = obj.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    if obj.get("default").is_some_and(Value::is_null) {
        obj.remove("default");
    }
    obj.remove("nullable");
}

/// Where `schema` (a JSON Schema as clients see it) types a value as `null` or with a type array,
/// as JSON pointers; empty when it is portable. The check behind the schema test.
pub fn non_portable(schema: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(schema, String::new(), &mut found);
    found
}

fn walk(v: &Value, at: String, found: &mut Vec<String>) {
    match v {
        Value::Object(obj) => {
            for (k, child) in obj {
                let here = format!("{at}/{k}");
                let bad = match k.as_str() {
                    "type" => child.is_array() || child.as_str() == Some("null"),
                    "nullable" => true,
                    "enum" => child
                        .as_array()
                        .is_some_and(|a| a.iter().any(Value::is_null)),
                    "default" | "const" => child.is_null(),
                    _ => false,
                };
                if bad {
                    found.push(format!("{here}: {child}"));
                }
                walk(child, here, found);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk(child, format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixed(v: Value) -> Value {
        let mut schema = Schema::try_from(v).unwrap();
        absent_or_typed(&mut schema);
        schema.to_value()
    }

    #[test]
    fn optional_values_become_their_plain_type() {
        let v = fixed(json!({
            "type": "object",
            "properties": {
                "p": {"description": "d", "type": ["integer", "null"], "default": null},
                "s": {"type": ["string", "null"], "enum": ["a", null]},
                "n": {"description": "field", "anyOf": [
                    {"description": "inner", "oneOf": [{"const": "x"}, {"const": "y"}]},
                    {"type": "null"}
                ]}
            }
        }));
        assert_eq!(
            v,
            json!({
                "type": "object",
                "properties": {
                    "p": {"description": "d", "type": "integer"},
                    "s": {"type": "string", "enum": ["a"]},
                    "n": {"description": "field", "oneOf": [{"const": "x"}, {"const": "y"}]}
                }
            })
        );
        assert!(non_portable(&v).is_empty());
    }

    #[test]
    fn the_check_names_every_null_type() {
        let found = non_portable(&json!({
            "properties": {
                "a": {"type": ["string", "null"]},
                "b": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "c": {"type": "string", "nullable": true}
            }
        }));
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("/properties/a/type"), "{found:?}");
    }
}
