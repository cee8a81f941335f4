//! Event bodies inside SQLite: postcard in a versioned envelope. A new envelope version is
//! added (never an old one changed) when a body's fields change; old rows keep decoding.

use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::calls::EventBody;

#[derive(Serialize)]
enum EnvelopeRef<'a, T> {
    V1(&'a T),
}

#[derive(Deserialize)]
enum Envelope<T> {
    V1(T),
}

pub fn encode_body(body: &EventBody) -> Result<Vec<u8>, StoreError> {
    postcard::to_stdvec(&EnvelopeRef::V1(body)).map_err(StoreError::Encode)
}

pub(crate) fn decode_body(bytes: &[u8]) -> Result<EventBody, postcard::Error> {
    match postcard::from_bytes::<Envelope<EventBody>>(bytes)? {
        Envelope::V1(body) => Ok(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{CallDtmf, CallStarted, Direction};

    #[test]
    fn round_trip() {
        for body in [
            EventBody::CallDtmf(CallDtmf { digit: "7".into() }),
            EventBody::CallStarted(CallStarted {
                direction: Direction::Inbound,
                caller: Some("+48123".into()),
                callee: None,
            }),
        ] {
            let bytes = encode_body(&body).unwrap();
            assert_eq!(decode_body(&bytes).unwrap(), body);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&[][..], &[0xff; 7], &[0, 200, 1, 2], &[9, 9, 9]] {
            assert!(decode_body(bytes).is_err());
        }
    }
}
