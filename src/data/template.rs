//! String templates for generated values (`template: "agt_{snake:name}_{index:03}"`): parsed
//! once at load into parts; rendered by `entity` with the field's own random stream.

use super::fakes::FakeKind;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub parts: Vec<Part>,
    /// About how long a rendering is, worked out at parse ([`Template::size_hint`]).
    hint: usize,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Lit(String),
    Uuid,
    Hex(usize),
    Digits(usize),
    Alnum(usize),
    /// The entity's 1-based position, zero-padded to the width.
    Index(usize),
    Pick(Vec<String>),
    Fake(FakeKind),
    Ref(String),
    Slug(String),
    Snake(String),
}

const MAX_WIDTH: usize = 256;

impl Template {
    /// About how long a rendering is (exact for literals, UUIDs and fixed widths; a guess for
    /// the rest), so that rendering allocates once.
    pub fn size_hint(&self) -> usize {
        self.hint
    }

    fn hint_of(parts: &[Part]) -> usize {
        (parts.iter())
            .map(|p| match p {
                Part::Lit(s) => s.len(),
                Part::Uuid => 36,
                Part::Hex(n) | Part::Digits(n) | Part::Alnum(n) | Part::Index(n) => *n,
                Part::Pick(opts) => opts.iter().map(String::len).max().unwrap_or(0),
                Part::Fake(_) | Part::Ref(_) | Part::Slug(_) | Part::Snake(_) => 16,
            })
            .sum()
    }

    /// Parse `text`; `{{` and `}}` stand for literal braces.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if matches!(chars.peek(), Some((_, '{'))) => {
                    chars.next();
                    lit.push('{');
                }
                '}' if matches!(chars.peek(), Some((_, '}'))) => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let rest = &text[i + 1..];
                    let end = rest
                        .find('}')
                        .ok_or_else(|| format!("template '{text}': unclosed '{{'"))?;
                    let inner = &rest[..end];
                    for _ in 0..inner.chars().count() + 1 {
                        chars.next();
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(
                        Self::placeholder(inner).map_err(|e| format!("template '{text}': {e}"))?,
                    );
                }
                '}' => return Err(format!("template '{text}': unmatched '}}'")),
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template {
            hint: Template::hint_of(&parts),
            parts,
        })
    }

    fn placeholder(inner: &str) -> Result<Part, String> {
        let (name, arg) = match inner.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (inner, None),
        };
        let width = |default: Option<usize>| -> Result<usize, String> {
            match arg {
                None => default.ok_or_else(|| format!("{{{name}:N}} needs a width")),
                Some(a) => a
                    .parse::<usize>()
                    .ok()
                    .filter(|w| *w <= MAX_WIDTH)
                    .ok_or_else(|| format!("'{a}' is not a width up to {MAX_WIDTH}")),
            }
        };
        let path = || -> Result<String, String> {
            arg.filter(|a| !a.is_empty())
                .map(str::to_string)
                .ok_or_else(|| format!("{{{name}:FIELD}} needs a field path"))
        };
        Ok(match name {
            "uuid" => Part::Uuid,
            "hex" => Part::Hex(width(None)?),
            "digits" => Part::Digits(width(None)?),
            "alnum" => Part::Alnum(width(None)?),
            "index" => Part::Index(width(Some(0))?),
            "pick" => {
                let opts: Vec<String> = arg
                    .ok_or("{pick:a|b} needs options")?
                    .split('|')
                    .map(str::to_string)
                    .collect();
                Part::Pick(opts)
            }
            "fake" => Part::Fake(FakeKind::parse(arg.ok_or("{fake:KIND} needs a kind")?)?),
            "ref" => Part::Ref(path()?),
            "slug" => Part::Slug(path()?),
            "snake" => Part::Snake(path()?),
            other => return Err(format!("unknown placeholder '{{{other}}}'")),
        })
    }

    /// Whether the template only copies other fields (no random parts), so that it can be
    /// rendered from an existing entity with [`Template::render_from`].
    pub fn is_derived(&self) -> bool {
        self.parts.iter().all(|p| {
            matches!(
                p,
                Part::Lit(_) | Part::Ref(_) | Part::Slug(_) | Part::Snake(_)
            )
        })
    }

    /// The value a derived template gives for `entity`: a template that is one `{ref:..}`
    /// copies the field as it is (a null stays null); otherwise the rendered text.
    pub fn derive(&self, entity: &serde_json::Value) -> serde_json::Value {
        if let [Part::Ref(path)] = self.parts.as_slice() {
            return super::path::extract(entity, path);
        }
        serde_json::Value::String(self.render_from(entity))
    }

    /// Render a derived template (see [`Template::is_derived`]) from the fields of `entity`;
    /// random parts render as nothing.
    pub fn render_from(&self, entity: &serde_json::Value) -> String {
        let text = |path: &str| match super::path::extract(entity, path) {
            serde_json::Value::String(s) => s,
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Ref(r) => out.push_str(&text(r)),
                Part::Slug(r) => out.push_str(&case_words(&text(r), '-')),
                Part::Snake(r) => out.push_str(&case_words(&text(r), '_')),
                _ => {}
            }
        }
        out
    }

    /// Field paths the template reads.
    pub fn refs(&self) -> Vec<String> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Ref(r) | Part::Slug(r) | Part::Snake(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }
}

/// `Customer Support Agent` -> `customer-support-agent` (with `sep` `-`) or `customer_support_agent`.
pub fn case_words(text: &str, sep: char) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if pending && !out.is_empty() {
                out.push(sep);
            }
            pending = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_hints_are_exact_for_fixed_widths() {
        let hint = |t: &str| Template::parse(t).map(|t| t.size_hint());
        assert_eq!(hint("agent-{uuid}"), Ok(42));
        assert_eq!(hint("{hex:8}-{digits:3}{alnum:2}"), Ok(14));
        assert_eq!(hint("{pick:a|bcd}!"), Ok(4));
    }

    #[test]
    fn parses_placeholders_and_literals() {
        let t = Template::parse("agt_{snake:name}_{index:03}{{x}}").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Lit("agt_".into()),
                Part::Snake("name".into()),
                Part::Lit("_".into()),
                Part::Index(3),
                Part::Lit("{x}".into()),
            ]
        );
        assert_eq!(t.refs(), vec!["name".to_string()]);
    }

    #[test]
    fn rejects_bad_templates() {
        for (t, want) in [
            ("{nope}", "unknown placeholder"),
            ("{hex}", "needs a width"),
            ("a{uuid", "unclosed"),
            ("a}", "unmatched"),
            ("{hex:99999}", "not a width"),
        ] {
            let e = Template::parse(t).unwrap_err();
            assert!(e.contains(want), "{t}: {e}");
        }
    }

    #[test]
    fn cases_words() {
        assert_eq!(
            case_words("Customer Support  Agent!", '_'),
            "customer_support_agent"
        );
        assert_eq!(case_words("Voice 2 go", '-'), "voice-2-go");
    }
}
