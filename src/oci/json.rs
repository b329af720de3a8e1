//! Canonical JSON: keys sorted, no whitespace. Every document glc writes goes through here,
//! so no map's iteration order (oci-spec uses `HashMap`s) reaches the bytes.

use serde::Serialize;

/// `value` as canonical JSON bytes.
pub fn canonical(value: &impl Serialize) -> Result<Vec<u8>, serde_json::Error> {
    // serde_json's `Value` keeps objects in a BTreeMap (the `preserve_order` feature is off),
    // so going through it sorts every object's keys.
    let value = serde_json::to_value(value)?;
    serde_json::to_vec(&value)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn keys_are_sorted_at_every_depth_and_there_is_no_whitespace() {
        let mut inner = HashMap::new();
        for key in ["zeta", "alpha", "mid", "Beta"] {
            inner.insert(key, 1);
        }
        let mut outer = HashMap::new();
        outer.insert("b", serde_json::json!({"y": 1, "x": [ {"d": 1, "c": 2} ]}));
        outer.insert("a", serde_json::to_value(&inner).unwrap());
        let bytes = canonical(&outer).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"a":{"Beta":1,"alpha":1,"mid":1,"zeta":1},"b":{"x":[{"c":2,"d":1}],"y":1}}"#
        );
    }
}
