//! The names of enum values, taken from serde: the one source of the strings stored in the log,
//! shown to people and accepted on the command line. An enum whose values are plain names
//! (`#[serde(rename_all = "snake_case")]` on unit variants) gets `as_str`, `Display` and parsing
//! from [`named!`](crate::named) instead of a hand-written table beside its serde attributes.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::de::IntoDeserializer;
use serde::ser::{Impossible, Serializer};

/// The name serde gives `value`, a unit variant of an enum (`TaskStatus::InProgress` →
/// `"in_progress"`); `"?"` for anything else (a value with fields has no name of its own).
pub fn name_of<T: Serialize + ?Sized>(value: &T) -> &'static str {
    value.serialize(NameOf).unwrap_or("?")
}

/// The value serde names `name`, if there is one.
pub fn from_name<T: DeserializeOwned>(name: &str) -> Option<T> {
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        name.into_deserializer();
    T::deserialize(de).ok()
}

/// `as_str` (serde's name) and `Display` for enums of plain names; [`from_name`] parses them.
#[macro_export]
macro_rules! named {
    ($($ty:ty),* $(,)?) => {$(
        impl $ty {
            /// The name stored in the log and shown to people (serde's).
            pub fn as_str(&self) -> &'static str {
                $crate::session::names::name_of(self)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

/// Not a unit variant.
#[derive(Debug)]
struct NotAName;

impl std::fmt::Display for NotAName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a unit variant")
    }
}

impl std::error::Error for NotAName {}

impl serde::ser::Error for NotAName {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        NotAName
    }
}

/// A serializer that only sees the variant's name; anything else is refused at once.
struct NameOf;

macro_rules! refuse {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {$(
        fn $method(self, $(_: $arg),*) -> Result<Self::Ok, Self::Error> {
            Err(NotAName)
        }
    )*};
}

impl Serializer for NameOf {
    type Ok = &'static str;
    type Error = NotAName;
    type SerializeSeq = Impossible<&'static str, NotAName>;
    type SerializeTuple = Impossible<&'static str, NotAName>;
    type SerializeTupleStruct = Impossible<&'static str, NotAName>;
    type SerializeTupleVariant = Impossible<&'static str, NotAName>;
    type SerializeMap = Impossible<&'static str, NotAName>;
    type SerializeStruct = Impossible<&'static str, NotAName>;
    type SerializeStructVariant = Impossible<&'static str, NotAName>;

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Self::Ok, Self::Error> {
        Ok(variant)
    }

    refuse!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
    );

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Self::Ok, Self::Error> {
        Err(NotAName)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, Self::Error> {
        Err(NotAName)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, Self::Error> {
        Err(NotAName)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
        Err(NotAName)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Self::Error> {
        Err(NotAName)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Self::Error> {
        Err(NotAName)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Self::Error> {
        Err(NotAName)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
        Err(NotAName)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, Self::Error> {
        Err(NotAName)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Self::Error> {
        Err(NotAName)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{HookPoint, TaskStatus};

    #[test]
    fn names_come_from_serde_and_parse_back() {
        for status in TaskStatus::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", name_of(&status)));
            assert_eq!(from_name::<TaskStatus>(name_of(&status)), Some(status));
        }
        assert_eq!(name_of(&HookPoint::OnTaskComplete), "on_task_complete");
        assert_eq!(from_name::<HookPoint>("nope"), None);
        assert_eq!(name_of(&3u8), "?");
        assert_eq!(name_of(&Some(TaskStatus::Blocked)), "?");
    }

    #[test]
    fn an_outcome_is_a_known_name_or_kept_as_the_agent_gave_it() {
        use crate::session::IterationOutcome as O;
        for (name, outcome) in [
            ("end_turn", O::EndTurn),
            ("max_turn_requests", O::MaxTurnRequests),
            ("interrupted", O::Interrupted),
            ("paused_for_tea", O::Other("paused_for_tea".into())),
        ] {
            assert_eq!(O::from(name), outcome);
            assert_eq!(outcome.as_str(), name);
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<O>(&json).unwrap(), outcome);
        }
    }
}
