//! JSON text of a [`Value`], byte for byte what `serde_json::to_string` writes (compact, keys in
//! the map's order, the same escapes and number forms), written straight into a `String`: no
//! `io::Write` layer and no error path, and strings scanned eight bytes at a time for the
//! few bytes JSON escapes. Written entities and write answers are serialized on every write,
//! where serde_json's serializer was a sixth of the cost.

use std::fmt::Write as _;

use serde_json::Value;

/// The JSON text of `v`.
pub(crate) fn to_string(v: &Value) -> String {
    let mut out = String::with_capacity(256);
    write(&mut out, v);
    out
}

/// The JSON text of `v`, as bytes.
pub(crate) fn to_vec(v: &Value) -> Vec<u8> {
    to_string(v).into_bytes()
}

/// Append the JSON text of `v` to `out`.
pub(crate) fn write(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        // serde_json's own formatting (itoa, and its shortest round-trip float form).
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(out, k);
                out.push(':');
                write(out, x);
            }
            out.push('}');
        }
    }
}

/// The JSON text of `v` and, where it is an object, where each of its members (`"key":value`)
/// starts in that text: what [`splice`] needs to write the object again after a change.
pub(crate) fn with_members(v: &Value) -> (String, Vec<u32>) {
    match v {
        // An object is spliced from no old text: every member written.
        Value::Object(_) => splice(v, "", &[], &[]),
        _ => (to_string(v), Vec::new()),
    }
}

/// [`with_members`] of the object `v`, which is the object whose text is `old` (its members
/// starting at `starts`) with at most its top-level members `changed` changed, added or
/// removed: the other members' text is copied from `old`, not written again.
pub(crate) fn splice(
    v: &Value,
    old: &str,
    starts: &[u32],
    changed: &[String],
) -> (String, Vec<u32>) {
    let Value::Object(m) = v else {
        return with_members(v);
    };
    // Member `j` of `old`, `"key":value`, without the comma or brace after it.
    let member = |j: usize| -> Option<&str> {
        let from = usize::try_from(*starts.get(j)?).ok()?;
        let to = match starts.get(j + 1) {
            Some(&next) => usize::try_from(next).ok()?.checked_sub(1)?,
            None => old.len().checked_sub(1)?,
        };
        old.get(from..to)
    };
    // The old text of the member named `k` (a key JSON writes as it is), looked for first
    // where it was, then anywhere.
    let old_member = |k: &str, at: usize| -> Option<&str> {
        // Compared as bytes: a member's text may hold multi-byte characters anywhere.
        let named = |text: &str| {
            let t = text.as_bytes();
            t.len() > k.len() + 2
                && t[0] == b'"'
                && &t[1..=k.len()] == k.as_bytes()
                && t[k.len() + 1] == b'"'
                && t[k.len() + 2] == b':'
        };
        if starts.is_empty() || !is_clean(k.as_bytes()) {
            return None;
        }
        if let Some(t) = member(at).filter(|t| named(t)) {
            return Some(t);
        }
        (0..starts.len()).filter_map(member).find(|t| named(t))
    };
    let mut out = String::with_capacity(old.len().max(192) + 64);
    let mut out_starts = Vec::with_capacity(m.len());
    out.push('{');
    for (i, (k, x)) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out_starts.push(u32::try_from(out.len()).unwrap_or(u32::MAX));
        match old_member(k, i).filter(|_| !changed.iter().any(|c| c == k)) {
            Some(text) => out.push_str(text),
            None => {
                string(&mut out, k);
                out.push(':');
                write(&mut out, x);
            }
        }
    }
    out.push('}');
    (out, out_starts)
}

/// Whether any of the eight bytes in `w` is one JSON escapes: a control character (below
/// 0x20), `"` or `\`.
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7F * ONES;
    const HIGH: u64 = 0x80 * ONES;
    // The high bit of each zero byte of `x`, exactly: `(b & 0x7F) + 0x7F` never carries into
    // the next byte, and has its high bit set unless `b` is zero.
    let zeros = |x: u64| !(((x & LOW7) + LOW7) | x) & HIGH;
    zeros(w & (0xE0 * ONES))
        | zeros(w ^ (u64::from(b'"') * ONES))
        | zeros(w ^ (u64::from(b'\\') * ONES))
        != 0
}

/// What JSON writes for each byte that it escapes (0 for the others): the short escapes, `u`
/// for `\u00XX`.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x0C] = b'f';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Whether `bytes` hold nothing JSON escapes, tested eight bytes at a time (a string of
/// fewer than eight is padded with spaces; the last word of a longer one overlaps the one
/// before it).
fn is_clean(bytes: &[u8]) -> bool {
    let word = |w: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        u64::from_le_bytes(a)
    };
    if bytes.len() < 8 {
        let mut w = u64::from(b' ') * 0x0101_0101_0101_0101;
        for &b in bytes {
            w = (w << 8) | u64::from(b);
        }
        return !needs_escape(w);
    }
    let mut words = bytes.chunks_exact(8);
    if words.by_ref().any(|w| needs_escape(word(w))) {
        return false;
    }
    words.remainder().is_empty() || !needs_escape(word(&bytes[bytes.len() - 8..]))
}

/// Append `s` as a JSON string.
fn string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    if is_clean(s.as_bytes()) {
        out.push_str(s);
    } else {
        let clean = escape_run(out, s, 0, 0, s.len());
        out.push_str(&s[clean..]);
    }
    out.push('"');
}

/// Write the escapes of `s[from..to]` (with the clean text before each, from `clean` on);
/// returns where the text not yet written starts.
fn escape_run(out: &mut String, s: &str, mut clean: usize, from: usize, to: usize) -> usize {
    for (i, &b) in s.as_bytes()[from..to].iter().enumerate() {
        let e = ESCAPE[usize::from(b)];
        if e == 0 {
            continue;
        }
        let i = from + i;
        // Escaped bytes are ASCII, so `clean..i` ends on a character boundary.
        out.push_str(&s[clean..i]);
        out.push('\\');
        if e == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        } else {
            out.push(char::from(e));
        }
        clean = i + 1;
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_what_serde_json_writes() {
        let mut all: Vec<Value> = vec![
            json!(null),
            json!(true),
            json!([
                false,
                0,
                -1,
                u64::MAX,
                i64::MIN,
                0.1,
                -0.0,
                1e21,
                1.5e-7,
                123456.789
            ]),
            json!({"b": {"z": [], "a": {}}, "a": "x", "": [[1], {"k": null}]}),
            json!(f64::MAX),
            json!(5e-324),
        ];
        // Every byte below 0x80 at every offset of an eight-byte window, beside multi-byte
        // characters.
        for b in 0u8..0x80 {
            for at in 0..10 {
                let mut s: String = "abcdefghij".into();
                s.replace_range(at..=at, &char::from(b).to_string());
                all.push(Value::String(format!("{s}é\u{1F600}{s}")));
            }
        }
        all.push(json!({"k\"\\\u{7f}\u{0}": "\u{2028}\u{1f}\"\"\\\\\r\n"}));
        for v in all {
            assert_eq!(to_string(&v), serde_json::to_string(&v).unwrap(), "{v:?}");
        }
    }

    #[test]
    fn splices_unchanged_members_from_the_old_text() {
        let old = json!({"id": "a", "name": "x", "tags": ["t"], "k\"q": 1, "meta": {"a": [1, {}]},
                         "gone": null});
        // Multi-byte characters at every offset a key comparison could cut.
        let accented = json!({"n": "é", "é": "ü", "a": "\u{1F600}x", "id": "1"});
        let (t, at) = with_members(&accented);
        let mut more = accented.clone();
        more["price"] = json!(1);
        more["a"] = json!("b");
        assert_eq!(
            splice(&more, &t, &at, &["price".into(), "a".into()]).0,
            serde_json::to_string(&more).unwrap()
        );
        let (text, starts) = with_members(&old);
        assert_eq!(text, serde_json::to_string(&old).unwrap());
        assert_eq!(starts.len(), 6);
        let changes: Vec<(Vec<&str>, Value)> = vec![
            (
                vec!["name"],
                json!({"id": "a", "name": "y", "tags": ["t"], "k\"q": 1,
                                  "meta": {"a": [1, {}]}, "gone": null}),
            ),
            // Removed, added (at the end), and an escaped key changed.
            (
                vec!["gone", "new", "k\"q"],
                json!({"id": "a", "name": "x", "tags": ["t"],
                                  "k\"q": 2, "meta": {"a": [1, {}]}, "new": "\u{1}"}),
            ),
            // Reordered: members found where they are now.
            (
                vec![],
                json!({"meta": {"a": [1, {}]}, "id": "a", "tags": ["t"], "name": "x"}),
            ),
            (vec!["id"], json!({})),
            // A member added where the old ones hold multi-byte characters.
            (
                vec!["price"],
                json!({"id": "a", "name": "x", "tags": ["t"], "k\"q": 1,
                                   "meta": {"a": [1, {}]}, "gone": null, "price": 2}),
            ),
        ];
        for (changed, new) in changes {
            let changed: Vec<String> = changed.into_iter().map(String::from).collect();
            let (spliced, at) = splice(&new, &text, &starts, &changed);
            assert_eq!(spliced, serde_json::to_string(&new).unwrap());
            assert_eq!((spliced.clone(), at.clone()), with_members(&new));
            // Spliced again from the spliced text.
            assert_eq!(splice(&new, &spliced, &at, &[]).0, spliced);
        }
        // Not an object: written whole.
        assert_eq!(splice(&json!([1]), &text, &starts, &[]).0, "[1]");
    }

    #[test]
    fn finds_each_escaped_byte_in_a_word() {
        for b in 0u8..=255 {
            for at in 0..8 {
                let mut w = *b"abcdefgh";
                w[at] = b;
                let want = b < 0x20 || b == b'"' || b == b'\\';
                assert_eq!(needs_escape(u64::from_le_bytes(w)), want, "{b:#x} at {at}");
            }
        }
        // No borrow from a neighbour: every pair of bytes.
        for a in 0u8..=255 {
            for b in 0u8..=255 {
                let w = u64::from_le_bytes([a, b, b'x', b'x', b'x', b'x', b'x', b'x']);
                let bad = |c: u8| c < 0x20 || c == b'"' || c == b'\\';
                assert_eq!(needs_escape(w), bad(a) || bad(b), "{a:#x} {b:#x}");
            }
        }
    }
}
