//! JSON whose objects keep their keys in order. opencode's permission rules are ordered (the last
//! rule that matches wins, in the order the keys were written), so the configuration iteratr reads
//! and writes for it must not be re-sorted the way `serde_json::Value` sorts keys.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn str(s: &str) -> Json {
        Json::String(s.to_string())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[(String, Json)] {
        match self {
            Json::Object(e) => e,
            _ => &[],
        }
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        self.entries()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Sets `key` (in place when it exists, at the end otherwise); turns a non-object into one.
    pub fn set(&mut self, key: &str, value: Json) {
        if !matches!(self, Json::Object(_)) {
            *self = Json::Object(Vec::new());
        }
        if let Json::Object(entries) = self {
            match entries.iter_mut().find(|(k, _)| k == key) {
                Some((_, v)) => *v = value,
                None => entries.push((key.to_string(), value)),
            }
        }
    }

    /// The object at `key`, created (at the end) when missing; `self` becomes an object if needed.
    pub fn object_at(&mut self, key: &str) -> &mut Json {
        if !matches!(self, Json::Object(_)) {
            *self = Json::Object(Vec::new());
        }
        let Json::Object(entries) = self else {
            return self;
        };
        let at = match entries.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                entries.push((key.to_string(), Json::Object(Vec::new())));
                entries.len() - 1
            }
        };
        let value = &mut entries[at].1;
        if !matches!(value, Json::Object(_)) {
            *value = Json::Object(Vec::new());
        }
        value
    }

    /// Merges `other` into `self` as opencode merges configuration layers: objects key by key
    /// (existing keys keep their place, new ones go at the end), anything else replaced.
    pub fn merge(&mut self, other: &Json) {
        match (self, other) {
            (Json::Object(mine), Json::Object(theirs)) => {
                for (k, v) in theirs {
                    match mine.iter_mut().find(|(mk, _)| mk == k) {
                        Some((_, existing)) => existing.merge(v),
                        None => mine.push((k.clone(), v.clone())),
                    }
                }
            }
            (me, other) => *me = other.clone(),
        }
    }

    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(t) => s.serialize_str(t),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            Json::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(n)
            .map(Json::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(i) = seq.next_element()? {
            items.push(i);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries: Vec<(String, Json)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            // A repeated key keeps its first place and its last value, as in JavaScript.
            match entries.iter_mut().find(|(ek, _)| *ek == k) {
                Some((_, ev)) => *ev = v,
                None => entries.push((k, v)),
            }
        }
        Ok(Json::Object(entries))
    }
}

/// JSON with comments (`//`, `/* */`) and trailing commas, as opencode accepts it, made plain
/// JSON. Strings are left untouched.
pub fn strip_jsonc(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        out.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    if chars[i - 1] == '"' {
                        break;
                    }
                }
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
                out.push(' ');
            }
            ',' => {
                // A comma before a closing bracket (after whitespace or comments) goes.
                let mut j = i + 1;
                let next = loop {
                    match chars.get(j) {
                        Some(w) if w.is_whitespace() => j += 1,
                        Some('/') if chars.get(j + 1) == Some(&'/') => {
                            while j < chars.len() && chars[j] != '\n' {
                                j += 1;
                            }
                        }
                        Some('/') if chars.get(j + 1) == Some(&'*') => {
                            j += 2;
                            while j < chars.len()
                                && !(chars[j] == '*' && chars.get(j + 1) == Some(&'/'))
                            {
                                j += 1;
                            }
                            j += 2;
                        }
                        other => break other.copied(),
                    }
                };
                if !matches!(next, Some('}' | ']')) {
                    out.push(c);
                }
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Parses JSON or JSONC into ordered JSON.
pub fn parse_jsonc(text: &str) -> Result<Json, serde_json::Error> {
    serde_json::from_str(&strip_jsonc(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_order_and_merge_in_place() {
        let mut a: Json =
            serde_json::from_str(r#"{"z": 1, "a": {"y": "allow", "b": "deny"}}"#).unwrap();
        let b: Json =
            serde_json::from_str(r#"{"a": {"y": "ask", "c": "ask"}, "m": null}"#).unwrap();
        a.merge(&b);
        assert_eq!(
            a.to_json_string(),
            r#"{"z":1,"a":{"y":"ask","b":"deny","c":"ask"},"m":null}"#
        );
        a.object_at("n").set("k", Json::Bool(true));
        a.object_at("a").set("b", Json::str("ask"));
        assert_eq!(
            a.to_json_string(),
            r#"{"z":1,"a":{"y":"ask","b":"ask","c":"ask"},"m":null,"n":{"k":true}}"#
        );
    }

    #[test]
    fn jsonc_becomes_json() {
        let text = "{\n  // a comment, with \"quotes\"\n  \"url\": \"http://x//y\", /* block */\n  \"list\": [1, 2,],\n  \"s\": \"a,}\\\"b\",\n}\n";
        let v = parse_jsonc(text).unwrap();
        assert_eq!(
            v.to_json_string(),
            r#"{"url":"http://x//y","list":[1,2],"s":"a,}\"b"}"#
        );
        assert!(parse_jsonc("{\"a\": }").is_err());
    }
}
