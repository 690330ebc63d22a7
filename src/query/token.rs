//! Opaque page tokens for the `page-token` pagination style.
//!
//! A token is `base64url(payload) "." hex(mac)`, where the payload is a small versioned JSON
//! object: `{"v":1,"k":<last key>,"p":<position of the last item>,"f":<hash of the filter and
//! sort it was issued for>}` and the MAC is a SipHash of the payload keyed by the dataset seed.
//! Tokens are bounded in length, so a client cannot make the server decode megabytes; a token
//! that is too long, not base64, not the expected JSON, of another version, signed with another
//! key, or presented with a different filter is refused with a reason.
//!
//! Resuming uses the key when it still exists (so deleting items between pages skips nothing)
//! and the position otherwise.

use std::hash::Hasher;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use siphasher::sip::SipHasher13;

/// Longest token accepted.
pub const MAX_TOKEN_LEN: usize = 2048;
const VERSION: u32 = 1;

/// What a page token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageToken {
    #[serde(rename = "v")]
    pub version: u32,
    /// Key of the last item of the page it follows.
    #[serde(rename = "k")]
    pub key: String,
    /// Position of that item in the ordered, unfiltered sequence.
    #[serde(rename = "p")]
    pub pos: u64,
    /// Hash of the filter and order it was issued for (hex).
    #[serde(rename = "f")]
    pub filter: String,
}

impl PageToken {
    pub fn new(key: &str, pos: u64, filter: u64) -> Self {
        PageToken {
            version: VERSION,
            key: key.to_string(),
            pos,
            filter: format!("{filter:016x}"),
        }
    }
}

fn mac(secret: u64, payload: &str) -> String {
    let mut h = SipHasher13::new_with_keys(secret, 0x7061_6765_746f_6b6e);
    h.write(payload.as_bytes());
    format!("{:016x}", h.finish())
}

/// Encode and sign a token.
pub fn encode(secret: u64, t: &PageToken) -> String {
    let json = serde_json::to_string(t).unwrap_or_default();
    let payload = URL_SAFE_NO_PAD.encode(json);
    let sig = mac(secret, &payload);
    format!("{payload}.{sig}")
}

/// Decode and verify a token issued for `filter`.
pub fn decode(secret: u64, s: &str, filter: u64) -> Result<PageToken, &'static str> {
    if s.len() > MAX_TOKEN_LEN {
        return Err("the page token is too long");
    }
    let (payload, sig) = s.split_once('.').ok_or("the page token is malformed")?;
    if mac(secret, payload) != sig {
        return Err("the page token is invalid or was tampered with");
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| "the page token is malformed")?;
    let t: PageToken = serde_json::from_slice(&bytes).map_err(|_| "the page token is malformed")?;
    if t.version != VERSION {
        return Err("the page token is from an unsupported version");
    }
    if t.filter != format!("{filter:016x}") {
        return Err("the page token was issued for a different filter or order");
    }
    Ok(t)
}

/// Hash of the parameters a token is bound to (name, values), in a stable order.
pub fn filter_hash(secret: u64, parts: &[(String, String)]) -> u64 {
    let mut sorted: Vec<&(String, String)> = parts.iter().collect();
    sorted.sort();
    let mut h = SipHasher13::new_with_keys(secret, 0x6669_6c74_6572_6b79);
    for (k, v) in sorted {
        h.write(k.as_bytes());
        h.write_u8(0);
        h.write(v.as_bytes());
        h.write_u8(1);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_tampering() {
        let t = PageToken::new("agt_x_001", 9, 42);
        let s = encode(7, &t);
        assert_eq!(decode(7, &s, 42), Ok(t));
        assert!(decode(8, &s, 42).is_err(), "another key");
        assert_eq!(
            decode(7, &s, 43),
            Err("the page token was issued for a different filter or order")
        );
        let mut tampered = s.clone().into_bytes();
        tampered[3] ^= 1;
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(decode(7, &tampered, 42).is_err());
        assert_eq!(decode(7, "garbage", 42), Err("the page token is malformed"));
        assert_eq!(
            decode(7, &"a".repeat(3000), 42),
            Err("the page token is too long")
        );
    }

    #[test]
    fn filter_hash_ignores_order_of_parts() {
        let a = vec![("a".into(), "1".into()), ("b".into(), "2".into())];
        let b = vec![("b".into(), "2".into()), ("a".into(), "1".into())];
        assert_eq!(filter_hash(1, &a), filter_hash(1, &b));
        assert_ne!(filter_hash(1, &a), filter_hash(2, &a));
    }
}
