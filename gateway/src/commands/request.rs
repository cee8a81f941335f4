//! A command's body as a typed request: serde reads it, and what serde cannot say (an empty
//! string, the shape the client should have sent) is said here, as a `bad_request`.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{refuse, Refusal};

/// The typed body of one command.
pub(super) trait Request: DeserializeOwned {
    /// The body this command takes, for the client who sent another.
    const SHAPE: &'static str;

    /// The strings that must not be empty, by key.
    fn required(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

/// Reads `body` as `R`, or says what is wrong and what the body should be.
pub(super) fn parse<R: Request>(body: &Value) -> Result<R, Refusal> {
    let request = R::deserialize(body)
        .map_err(|e| refuse("bad_request", format!("{e}; the body is {}", R::SHAPE)))?;
    if let Some((key, _)) = request.required().into_iter().find(|(_, v)| v.is_empty()) {
        return Err(refuse(
            "bad_request",
            format!("{key:?} is missing or not a string"),
        ));
    }
    Ok(request)
}

/// A typed result as the answer's `result`.
pub(super) fn result<T: serde::Serialize>(value: T) -> Result<Value, Refusal> {
    serde_json::to_value(value).map_err(|e| refuse("internal", e.to_string()))
}
