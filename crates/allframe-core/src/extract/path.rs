//! Path parameters: `/users/{id}` or `/users/:id`, and trailing wildcards `/files/{*path}`.

use std::borrow::Cow;
use std::sync::Arc;

use http::request::Parts;
use percent_encoding::percent_decode_str;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use super::FromRequestParts;
use crate::rejection::PathRejection;

/// The parameters the router matched, as byte ranges of the request path.
///
/// The router stores them only for routes that have parameters, so static routes pay
/// nothing. Handlers normally use [`Path`]; `RawPathParams` gives the undecoded strings.
#[derive(Debug, Clone)]
pub struct RawPathParams {
    names: Arc<[Box<str>]>,
    spans: Box<[(usize, usize)]>,
    path: Box<str>,
}

impl RawPathParams {
    /// `values` are slices of `path` (as the router's matcher returns them).
    pub(crate) fn new<'p>(
        names: Arc<[Box<str>]>,
        path: &'p str,
        values: impl Iterator<Item = &'p str>,
    ) -> Self {
        let base = path.as_ptr() as usize;
        let spans = values
            .map(|v| {
                let start = (v.as_ptr() as usize).wrapping_sub(base);
                assert!(
                    start + v.len() <= path.len(),
                    "a parameter value lies inside the path"
                );
                (start, start + v.len())
            })
            .collect();
        Self {
            names,
            spans,
            path: path.into(),
        }
    }

    /// `(name, raw value)` pairs in the order of the route's pattern.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.names
            .iter()
            .zip(self.spans.iter())
            .map(|(n, &(s, e))| (&**n, &self.path[s..e]))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RawPathParams {
    type Rejection = PathRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, PathRejection> {
        parts
            .extensions
            .get::<RawPathParams>()
            .cloned()
            .ok_or(PathRejection::NoParams)
    }
}

/// Path parameters deserialized into `T`.
///
/// `T` is a single value for a route with one parameter (`Path<u64>`), a tuple in pattern
/// order (`Path<(String, u32)>`), or a struct whose fields are named after the parameters.
/// Values are percent-decoded first. A value that does not parse answers 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = PathRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, PathRejection> {
        let Some(raw) = parts.extensions.get::<RawPathParams>() else {
            return Err(PathRejection::NoParams);
        };
        let mut decoded = Vec::with_capacity(raw.spans.len());
        for (name, value) in raw.iter() {
            let value = percent_decode_str(value).decode_utf8().map_err(|_| {
                PathRejection::InvalidUtf8 {
                    name: name.to_owned(),
                }
            })?;
            decoded.push((name, value));
        }
        T::deserialize(ParamsDeserializer { params: &decoded })
            .map(Path)
            .map_err(|err| PathRejection::Invalid(err.to_string()))
    }
}

type Error = de::value::Error;

/// Reads the whole parameter list as a struct, map, tuple or a single value.
struct ParamsDeserializer<'a> {
    params: &'a [(&'a str, Cow<'a, str>)],
}

impl<'a> ParamsDeserializer<'a> {
    fn single(&self) -> Result<ValueDeserializer<'a>, Error> {
        match self.params {
            [(name, value)] => Ok(ValueDeserializer { name, value }),
            params => Err(de::Error::custom(format!(
                "expected 1 path parameter, the route has {}",
                params.len()
            ))),
        }
    }
}

macro_rules! forward_to_single {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.single()?.$method(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ParamsDeserializer<'de> {
    type Error = Error;

    forward_to_single! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_option
        deserialize_unit deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.single()?.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.single()?.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let values = self
            .params
            .iter()
            .map(|(name, value)| ValueDeserializer { name, value });
        visitor.visit_seq(de::value::SeqDeserializer::new(values))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        if len != self.params.len() {
            return Err(de::Error::custom(format!(
                "expected {len} path parameters, the route has {}",
                self.params.len()
            )));
        }
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let entries = self
            .params
            .iter()
            .map(|(name, value)| (*name, ValueDeserializer { name, value }));
        visitor.visit_map(de::value::MapDeserializer::new(entries))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }
}

/// One parameter's decoded text, parsed into whatever primitive is asked for.
struct ValueDeserializer<'a> {
    name: &'a str,
    value: &'a str,
}

impl<'de> IntoDeserializer<'de, Error> for ValueDeserializer<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! parse_value {
    ($($method:ident => $visit:ident: $ty:ty,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.value.parse::<$ty>() {
                Ok(parsed) => visitor.$visit(parsed),
                Err(_) => Err(de::Error::custom(format!(
                    "path parameter `{}` is `{}`, which is not a valid {}",
                    self.name, self.value, stringify!($ty)
                ))),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = Error;

    parse_value! {
        deserialize_bool => visit_bool: bool,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
        deserialize_char => visit_char: char,
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_str(self.value)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_enum(self.value.into_deserializer())
    }

    forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}
