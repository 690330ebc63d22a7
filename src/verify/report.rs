//! What `understudy verify` found, and its three renderings: human-readable text, JUnit XML
//! for CI, and JSON.

use serde::Serialize;

/// The kind of a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A 2xx body does not match its schema.
    Schema,
    /// An error body does not match the documented error schema.
    ErrorShape,
    /// The status is not documented for the operation.
    UndocumentedStatus,
    /// An item came back on two pages.
    Duplicate,
    /// Items were skipped, or two walks disagree.
    Skipped,
    /// A page held more items than the limit.
    PageOverLimit,
    /// A detail does not match its list item.
    ListDetailMismatch,
    /// A status other than the one the contract calls for.
    Unexpected,
    /// The request could not be made.
    Transport,
}

/// One violation, with the request that caused it.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    pub kind: Kind,
    pub request: String,
    pub message: String,
}

/// One check (a walk, a sample of details, a bad request).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    pub violations: Vec<Violation>,
}

impl Check {
    pub fn new(name: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            detail: String::new(),
            violations: Vec::new(),
        }
    }

    pub fn fail(&mut self, kind: Kind, request: &str, message: impl Into<String>) {
        self.violations.push(Violation {
            kind,
            request: request.to_string(),
            message: message.into(),
        });
    }

    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Everything verify found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub api: String,
    pub base_url: String,
    pub requests: usize,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn new(api: &str, base_url: &str) -> Self {
        Report {
            api: api.to_string(),
            base_url: base_url.to_string(),
            requests: 0,
            checks: Vec::new(),
        }
    }

    /// Whether nothing was violated.
    pub fn clean(&self) -> bool {
        self.checks.iter().all(Check::passed)
    }

    /// Number of violations.
    pub fn violations(&self) -> usize {
        self.checks.iter().map(|c| c.violations.len()).sum()
    }

    /// Human-readable text.
    pub fn text(&self) -> String {
        let mut out = format!(
            "verify {} against {} ({} requests)\n",
            self.api, self.base_url, self.requests
        );
        for c in &self.checks {
            let mark = if c.passed() { "ok  " } else { "FAIL" };
            let detail = if c.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", c.detail)
            };
            out.push_str(&format!("  {mark} {}{detail}\n", c.name));
            for v in &c.violations {
                out.push_str(&format!(
                    "       {:?}: {}\n         request: {}\n",
                    v.kind, v.message, v.request
                ));
            }
        }
        let failed = self.checks.iter().filter(|c| !c.passed()).count();
        out.push_str(&format!(
            "{} checks, {} failed, {} violations\n",
            self.checks.len(),
            failed,
            self.violations()
        ));
        out
    }

    /// JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// JUnit XML: one test case per check.
    pub fn junit(&self) -> String {
        let failed = self.checks.iter().filter(|c| !c.passed()).count();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<testsuite name=\"understudy verify {}\" tests=\"{}\" failures=\"{}\" errors=\"0\">\n",
            xml(&self.api),
            self.checks.len(),
            failed
        ));
        for c in &self.checks {
            out.push_str(&format!(
                "  <testcase classname=\"{}\" name=\"{}\"",
                xml(&self.api),
                xml(&c.name)
            ));
            if c.passed() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            for v in &c.violations {
                out.push_str(&format!(
                    "    <failure type=\"{:?}\" message=\"{}\">{}</failure>\n",
                    v.kind,
                    xml(&v.message),
                    xml(&v.request)
                ));
            }
            out.push_str("  </testcase>\n");
        }
        out.push_str("</testsuite>\n");
        out
    }
}

fn xml(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => " ".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_failures_in_every_format() {
        let mut r = Report::new("letta", "http://x");
        let mut c = Check::new("walk <GET>");
        c.fail(Kind::Duplicate, "GET http://x/a?b=1&c=2", "item a twice");
        r.checks.push(c);
        r.checks.push(Check::new("ok one"));
        assert!(!r.clean());
        assert!(r.text().contains("FAIL walk <GET>"));
        let j = r.junit();
        assert!(j.contains("tests=\"2\" failures=\"1\""));
        assert!(j.contains("walk &lt;GET&gt;") && j.contains("b=1&amp;c=2"));
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(v["checks"][0]["violations"][0]["kind"], "duplicate");
    }
}
