//! Fields of a request body that may be left out, for `#[serde(default, deserialize_with)]`:
//! an update's field left out keeps its value, while `null` means something else — refused
//! for a field typed as a value ([`present`]), "clear it" for a nullable one ([`nullable`]).
//! serde alone reads `null` as left out. With `openapi`, pair them with
//! `#[schemars(transform = allframe::openapi::without_default)]`, so the document does not
//! offer the `default: null` serde's `default` adds.

use serde::{Deserialize, Deserializer};

/// Left out, `None`; sent, a value: `null` is a deserialization error (a 422 from
/// [`Json`](crate::Json)).
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    value: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(value).map(Some)
}

/// Left out, `None`; `null`, `Some(None)`; a value, `Some(Some(value))`.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    value: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(value).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Change {
        #[serde(default, deserialize_with = "super::present")]
        name: Option<String>,
        #[serde(default, deserialize_with = "super::nullable")]
        bio: Option<Option<String>>,
    }

    #[test]
    fn left_out_null_and_a_value_are_three_answers() {
        let read = |json| serde_json::from_str::<Change>(json);
        let left_out = read("{}").unwrap();
        assert_eq!((left_out.name, left_out.bio), (None, None));
        let set = read(r#"{"name": "ann", "bio": "I write."}"#).unwrap();
        assert_eq!(set.name.as_deref(), Some("ann"));
        assert_eq!(set.bio, Some(Some("I write.".to_owned())));
        assert_eq!(read(r#"{"bio": null}"#).unwrap().bio, Some(None));
        assert!(read(r#"{"name": null}"#).is_err());
    }
}
