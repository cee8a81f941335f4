//! Structure-aware mutation for the property tests (compiled only under #[cfg(test)]): the
//! shapes the captures show, with contents they do not. Field values become text in other
//! scripts, control bytes, separators of the protocol, empty strings, huge numbers; JSON
//! leaves change type.

use proptest::prelude::*;
use serde_json::Value;

/// Cases per structure-aware property: 2,000 in CI; `PBXGW_FUZZ_CASES` for a long run.
pub(crate) fn cases() -> u32 {
    std::env::var("PBXGW_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// A field value no capture holds.
pub(crate) fn weird_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[ąęłóżźćńśĄĘŁÓŻŹĆŃŚ¥€漢字😀]{1,12}",
        "[\\x00-\\x1f\\x7f]{1,4}",
        "[0-9]{19,60}",
        Just("-1".to_owned()),
        Just("18446744073709551616".to_owned()),
        "[:;,/ ]{1,5}",
        "[a-zA-Z0-9]{1,8}",
        "x{600,2000}",
        ".{0,40}",
    ]
}

/// A JSON value of another type than the one it replaces.
pub(crate) fn weird_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        weird_text().prop_map(Value::String),
        Just(Value::Null),
        Just(Value::Bool(true)),
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(-1)),
        Just(serde_json::json!(1.5e300)),
        Just(serde_json::json!({})),
        Just(serde_json::json!([])),
        Just(serde_json::json!([{"id": ""}])),
    ]
}

/// Replaces leaves of `value` in walk order: the i-th leaf takes `picks[i]` when it is
/// `Some`. Returns how many leaves there were.
pub(crate) fn mutate_json(value: &mut Value, picks: &mut impl Iterator<Item = Option<Value>>) {
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                mutate_json(v, picks);
            }
        }
        Value::Array(items) => {
            for v in items {
                mutate_json(v, picks);
            }
        }
        leaf => {
            if let Some(Some(new)) = picks.next() {
                *leaf = new;
            }
        }
    }
}

/// Picks for [`mutate_json`]: mostly untouched leaves, some replaced.
pub(crate) fn json_picks() -> impl Strategy<Value = Vec<Option<Value>>> {
    proptest::collection::vec(
        prop_oneof![6 => Just(None), 1 => weird_json().prop_map(Some)],
        0..80,
    )
}
