//! The realistic-text kinds a spec may ask for (`fake: sentence`), backed by the `fake` crate
//! and drawn from the field's own seeded stream.

use fake::Fake;
use fake::faker::address::en::{CityName, CountryCode, TimeZone};
use fake::faker::company::en::{Bs, Buzzword, CatchPhrase, CompanyName};
use fake::faker::internet::en::{SafeEmail, Username};
use fake::faker::job::en::Title;
use fake::faker::lorem::en::{Paragraph, Sentence, Word, Words};
use fake::faker::name::en::{FirstName, LastName, Name};
use rand_chacha::ChaCha8Rng;

/// A kind of fake text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeKind {
    Name,
    FirstName,
    LastName,
    Company,
    CatchPhrase,
    Buzzword,
    Bs,
    Sentence,
    Paragraph,
    Word,
    Words,
    City,
    CountryCode,
    Email,
    Username,
    JobTitle,
    Timezone,
}

const KINDS: &[(&str, FakeKind)] = &[
    ("name", FakeKind::Name),
    ("first-name", FakeKind::FirstName),
    ("last-name", FakeKind::LastName),
    ("company", FakeKind::Company),
    ("catch-phrase", FakeKind::CatchPhrase),
    ("buzzword", FakeKind::Buzzword),
    ("bs", FakeKind::Bs),
    ("sentence", FakeKind::Sentence),
    ("paragraph", FakeKind::Paragraph),
    ("word", FakeKind::Word),
    ("words", FakeKind::Words),
    ("city", FakeKind::City),
    ("country-code", FakeKind::CountryCode),
    ("email", FakeKind::Email),
    ("username", FakeKind::Username),
    ("job-title", FakeKind::JobTitle),
    ("timezone", FakeKind::Timezone),
];

impl FakeKind {
    /// Parse a kind name as written in a spec.
    pub fn parse(name: &str) -> Result<FakeKind, String> {
        KINDS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let names: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
                format!("unknown fake kind '{name}' (one of {})", names.join(", "))
            })
    }

    /// Draw one value.
    pub fn draw(self, rng: &mut ChaCha8Rng) -> String {
        match self {
            FakeKind::Name => Name().fake_with_rng(rng),
            FakeKind::FirstName => FirstName().fake_with_rng(rng),
            FakeKind::LastName => LastName().fake_with_rng(rng),
            FakeKind::Company => CompanyName().fake_with_rng(rng),
            FakeKind::CatchPhrase => CatchPhrase().fake_with_rng(rng),
            FakeKind::Buzzword => Buzzword().fake_with_rng(rng),
            FakeKind::Bs => Bs().fake_with_rng(rng),
            FakeKind::Sentence => Sentence(4..10).fake_with_rng(rng),
            FakeKind::Paragraph => Paragraph(2..4).fake_with_rng(rng),
            FakeKind::Word => Word().fake_with_rng(rng),
            FakeKind::Words => {
                let w: Vec<String> = Words(2..4).fake_with_rng(rng);
                w.join(" ")
            }
            FakeKind::City => CityName().fake_with_rng(rng),
            FakeKind::CountryCode => CountryCode().fake_with_rng(rng),
            FakeKind::Email => SafeEmail().fake_with_rng(rng),
            FakeKind::Username => Username().fake_with_rng(rng),
            FakeKind::JobTitle => Title().fake_with_rng(rng),
            FakeKind::Timezone => TimeZone().fake_with_rng(rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_kind_draws_deterministically() {
        for (name, kind) in KINDS {
            let a = kind.draw(&mut ChaCha8Rng::seed_from_u64(7));
            let b = kind.draw(&mut ChaCha8Rng::seed_from_u64(7));
            assert_eq!(a, b, "{name}");
            assert!(!a.is_empty(), "{name}");
        }
        assert!(FakeKind::parse("nope").unwrap_err().contains("sentence"));
    }
}
