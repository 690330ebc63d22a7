//! Scenario files (`docs/scenarios.md`): parsing them into [`Scenario`]s, all-or-nothing, with
//! every problem reported as file, line and message. Running them lives in [`session`];
//! checking them against a dataset in [`check`].

pub mod check;
pub mod export;
pub mod session;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use include_dir::{Dir, include_dir};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::data::generator::{self, FieldGen};
use crate::error::{Error, Result};
use crate::files;
use crate::locate::Lines;

/// The scenarios shipped in `scenarios/`, embedded at build time.
static EMBEDDED: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/scenarios");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileDef {
    api: String,
    #[serde(default)]
    collection: Option<String>,
    #[serde(default)]
    description: Option<String>,
    /// Variables naming an entity, each with the entity used when the scenario is started
    /// without one (a write that starts the scenario names the entity it wrote).
    #[serde(default)]
    inputs: BTreeMap<String, Value>,
    steps: Vec<StepDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct StepDef {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    request: Option<RequestDef>,
    #[serde(default)]
    manual: Option<bool>,
    #[serde(default, rename = "let")]
    lets: Map<String, Value>,
    #[serde(default)]
    update: Vec<UpdateDef>,
    #[serde(default)]
    create: Vec<CreateDef>,
    #[serde(default)]
    delete: Vec<Value>,
    #[serde(default)]
    respond: Vec<RespondDef>,
    #[serde(default)]
    clear_responses: bool,
    /// From this step on, a write that would start scenario A starts scenario B instead.
    #[serde(default)]
    substitute: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestDef {
    #[serde(default)]
    method: Option<String>,
    path: String,
    #[serde(default = "one")]
    count: u64,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateDef {
    /// The entity to change (`entity:`; `agent:` is the older spelling).
    #[serde(alias = "agent")]
    entity: Value,
    set: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateDef {
    #[serde(default, rename = "as")]
    name: Option<String>,
    #[serde(default)]
    set: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RespondDef {
    #[serde(default, rename = "match")]
    matches: Option<MatchDef>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    delay: Option<String>,
    #[serde(default)]
    drop: bool,
    #[serde(default)]
    times: Option<u64>,
    #[serde(default, rename = "for")]
    window: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MatchDef {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

/// A loaded scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub file: String,
    pub api: String,
    pub collection: Option<String>,
    pub description: String,
    /// Entity variables with their default entity.
    pub inputs: Vec<(String, Target)>,
    pub steps: Vec<Step>,
    /// For messages found later (when checked against a dataset).
    lines: std::sync::Arc<Lines>,
}

/// What fires a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Immediate,
    At(u64),
    Request {
        method: Option<String>,
        path: String,
        count: u64,
    },
    Manual,
}

/// Which entity an effect applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Pos(u32),
    Key(String),
    Var(String),
}

/// A value to set.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Value),
    Var(String),
    Field(String),
    Now,
    Omit,
}

/// A value to generate once per step.
#[derive(Debug, Clone)]
pub enum LetGen {
    Gen(FieldGen),
    Now,
}

/// A response rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub message: Option<String>,
    pub headers: Vec<(String, String)>,
    pub delay: Option<Duration>,
    pub drop: bool,
    pub times: Option<u64>,
    pub window_ms: Option<u64>,
}

/// Field assignments: (dotted path, value).
pub type Sets = Vec<(String, Expr)>;

/// One step.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub trigger: Trigger,
    pub lets: Vec<(String, LetGen)>,
    pub updates: Vec<(Target, Sets)>,
    pub creates: Vec<(Option<String>, Sets)>,
    pub deletes: Vec<Target>,
    pub rules: Vec<Rule>,
    pub clear_rules: bool,
    /// (scenario a write would start, the one it starts instead).
    pub substitutes: Vec<(String, String)>,
}

impl Scenario {
    /// A load error at `path` inside this scenario's file.
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> Error {
        Error::Scenario {
            file: self.file.clone(),
            line: self.lines.line(path),
            message: message.into(),
        }
    }
}

/// Parse a duration such as `30s`, `500ms`, `1m30s`.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("bad duration '{s}': {e}"))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// File endings of scenario files.
const SCENARIO_EXTS: &[&str] = &[".yaml", ".yml"];

/// Load the embedded scenarios.
pub fn load_embedded() -> Result<Vec<Scenario>> {
    files::embedded(&EMBEDDED, "scenarios", SCENARIO_EXTS)
        .into_iter()
        .map(|(name, text)| {
            let text = text.ok_or_else(|| Error::Scenario {
                file: name.clone(),
                line: None,
                message: "not UTF-8".into(),
            })?;
            parse(&name, text)
        })
        .collect()
}

/// Load every scenario file in a folder.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>> {
    files::in_dir(dir, SCENARIO_EXTS)?
        .iter()
        .map(|p| load_file(p))
        .collect()
}

/// Load one scenario file.
pub fn load_file(path: &Path) -> Result<Scenario> {
    parse(&path.to_string_lossy(), &files::read(path)?)
}

/// Parse a scenario from text; `file` names it in messages and gives its name (the stem).
pub fn parse(file: &str, text: &str) -> Result<Scenario> {
    let def: FileDef = serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        let msg = e.to_string();
        // serde_yaml appends " at line N column M"; the line is already in the prefix.
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        Error::Scenario {
            file: file.to_string(),
            line,
            message: msg,
        }
    })?;
    let lines = std::sync::Arc::new(Lines::of(text));
    let err = |path: &str, message: String| Error::Scenario {
        file: file.to_string(),
        line: lines.line(path),
        message,
    };
    if def.steps.is_empty() {
        return Err(err("steps", "a scenario needs at least one step".into()));
    }
    let mut steps = Vec::with_capacity(def.steps.len());
    let mut last_at = 0u64;
    let mut names = std::collections::HashSet::new();
    for (i, s) in def.steps.into_iter().enumerate() {
        let at = format!("steps[{i}]");
        let name = s.name.clone().unwrap_or_else(|| format!("#{i}"));
        if !names.insert(name.clone()) {
            return Err(err(
                &format!("{at}.name"),
                format!("step name '{name}' is used twice"),
            ));
        }
        let triggers = [s.at.is_some(), s.request.is_some(), s.manual == Some(true)];
        if triggers.iter().filter(|t| **t).count() > 1 {
            return Err(err(
                &at,
                "a step has at most one trigger (at, request or manual)".into(),
            ));
        }
        let trigger = if let Some(a) = &s.at {
            let t = ms(parse_duration(a).map_err(|m| err(&format!("{at}.at"), m))?);
            if t < last_at {
                return Err(err(
                    &format!("{at}.at"),
                    format!("steps out of order: at {a} comes before an earlier step's time"),
                ));
            }
            last_at = t;
            Trigger::At(t)
        } else if let Some(r) = s.request {
            if r.count == 0 {
                return Err(err(
                    &format!("{at}.request.count"),
                    "count starts at 1".into(),
                ));
            }
            Trigger::Request {
                method: r.method.map(|m| m.to_ascii_uppercase()),
                path: r.path,
                count: r.count,
            }
        } else if s.manual == Some(true) {
            Trigger::Manual
        } else {
            Trigger::Immediate
        };
        let mut lets = Vec::new();
        for (k, v) in &s.lets {
            let p = format!("{at}.let.{k}");
            let g = if v.get("now").is_some() && v.as_object().is_some_and(|m| m.len() == 1) {
                LetGen::Now
            } else {
                let mut g = generator::parse(v).map_err(|m| err(&p, m))?;
                g.resolve_members(&|c, f| {
                    Err(format!(
                        "member-of {c}.{f}: a let value draws from its own list (one-of), not \
                         from a collection"
                    ))
                })
                .map_err(|m| err(&p, m))?;
                let mut refs = Vec::new();
                g.refs(&mut refs);
                if !refs.is_empty() {
                    return Err(err(&p, "a let value cannot refer to entity fields".into()));
                }
                LetGen::Gen(g)
            };
            lets.push((k.clone(), g));
        }
        let mut updates = Vec::new();
        for (j, u) in s.update.iter().enumerate() {
            let p = format!("{at}.update[{j}]");
            let target = target(&u.entity).map_err(|m| err(&format!("{p}.entity"), m))?;
            updates.push((target, sets(&u.set, &format!("{p}.set"), &err)?));
        }
        let mut creates = Vec::new();
        for (j, c) in s.create.iter().enumerate() {
            let p = format!("{at}.create[{j}]");
            creates.push((c.name.clone(), sets(&c.set, &format!("{p}.set"), &err)?));
        }
        let mut deletes = Vec::new();
        for (j, d) in s.delete.iter().enumerate() {
            deletes.push(target(d).map_err(|m| err(&format!("{at}.delete[{j}]"), m))?);
        }
        let mut rules = Vec::new();
        for (j, r) in s.respond.into_iter().enumerate() {
            let p = format!("{at}.respond[{j}]");
            let m = r.matches.unwrap_or_default();
            let delay = r
                .delay
                .as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(|e| err(&format!("{p}.delay"), e))?;
            let window_ms = r
                .window
                .as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(|e| err(&format!("{p}.for"), e))?
                .map(ms);
            if r.status.is_none() && delay.is_none() && !r.drop {
                return Err(err(
                    &p,
                    "a response rule needs a status, a delay or drop".into(),
                ));
            }
            if r.times == Some(0) {
                return Err(err(&format!("{p}.times"), "times starts at 1".into()));
            }
            rules.push(Rule {
                method: m.method.map(|x| x.to_ascii_uppercase()),
                path: m.path,
                status: r.status,
                message: r.message,
                // Lower-case names, as answers carry them.
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect(),
                delay,
                drop: r.drop,
                times: r.times,
                window_ms,
            });
        }
        steps.push(Step {
            name,
            trigger,
            lets,
            updates,
            creates,
            deletes,
            rules,
            clear_rules: s.clear_responses,
            substitutes: s.substitute.into_iter().collect(),
        });
    }
    let mut inputs = Vec::new();
    for (name, v) in &def.inputs {
        let t = target(v).map_err(|m| err(&format!("inputs.{name}"), m))?;
        if matches!(t, Target::Var(_)) {
            return Err(err(
                &format!("inputs.{name}"),
                "an input's default is \"@N\" or a key".into(),
            ));
        }
        inputs.push((name.clone(), t));
    }
    Ok(Scenario {
        name: crate::spec::api_name(file),
        file: file.to_string(),
        api: def.api,
        collection: def.collection,
        description: def.description.unwrap_or_default(),
        inputs,
        steps,
        lines,
    })
}

fn target(v: &Value) -> std::result::Result<Target, String> {
    match v {
        Value::String(s) => match s.strip_prefix('@') {
            Some(n) => n
                .parse::<u32>()
                .map(Target::Pos)
                .map_err(|_| format!("'{s}' is not @N (a dataset position)")),
            None => Ok(Target::Key(s.clone())),
        },
        Value::Object(m) if m.len() == 1 => match m.get("var").and_then(Value::as_str) {
            Some(name) => Ok(Target::Var(name.to_string())),
            None => Err("an entity is \"@N\", a key, or {var: NAME}".into()),
        },
        _ => Err("an entity is \"@N\", a key, or {var: NAME}".into()),
    }
}

fn sets(
    m: &Map<String, Value>,
    at: &str,
    err: &dyn Fn(&str, String) -> Error,
) -> Result<Vec<(String, Expr)>> {
    let mut out = Vec::new();
    for (k, v) in m {
        let e = expr(v).map_err(|msg| err(&format!("{at}.{k}"), msg))?;
        out.push((k.clone(), e));
    }
    Ok(out)
}

fn expr(v: &Value) -> std::result::Result<Expr, String> {
    let Some(m) = v.as_object().filter(|m| m.len() == 1) else {
        return Ok(Expr::Lit(v.clone()));
    };
    let (k, arg) = m.iter().next().ok_or("empty map")?;
    Ok(match k.as_str() {
        "var" => Expr::Var(arg.as_str().ok_or("var takes a name")?.to_string()),
        "field" => Expr::Field(arg.as_str().ok_or("field takes a dotted path")?.to_string()),
        "now" => Expr::Now,
        "omit" => Expr::Omit,
        "literal" => Expr::Lit(arg.clone()),
        _ => Expr::Lit(v.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_triggers_and_effects() {
        let s = parse(
            "scenarios/x.yaml",
            "api: letta\nsteps:\n  - at: 30s\n    let: {d: {uuid: {}}}\n    update:\n      - agent: \"@0\"\n        set: {a.b: {var: d}, c: 1, e: {omit: true}}\n  - request: {path: /v1/agents/, count: 2}\n    delete: [\"@1\"]\n  - manual: true\n    respond:\n      - {status: 429, headers: {Retry-After: \"30\"}, times: 2}\n",
        )
        .unwrap();
        assert_eq!(s.name, "x");
        assert_eq!(s.steps[0].trigger, Trigger::At(30_000));
        assert_eq!(s.steps[0].updates[0].0, Target::Pos(0));
        assert_eq!(
            s.steps[0].updates[0].1[0],
            ("a.b".into(), Expr::Var("d".into()))
        );
        assert_eq!(s.steps[0].updates[0].1[2].1, Expr::Omit);
        assert!(matches!(
            s.steps[1].trigger,
            Trigger::Request { count: 2, .. }
        ));
        assert_eq!(s.steps[2].trigger, Trigger::Manual);
        assert_eq!(s.steps[2].rules[0].times, Some(2));
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            (
                "api: a\nsteps:\n  - at: soon\n",
                ":3:",
                "bad duration 'soon'",
            ),
            (
                "api: a\nsteps:\n  - at: 30s\n  - at: 10s\n",
                ":4:",
                "out of order",
            ),
            (
                "api: a\nsteps:\n  - wait: 1s\n",
                ":3:",
                "unknown field `wait`",
            ),
            ("api: a\nsteps:\n  - delete: [\"@x\"]\n", ":3:", "not @N"),
            (
                "api: a\nsteps:\n  - at: 1s\n    manual: true\n",
                ":3:",
                "at most one trigger",
            ),
            ("api: a\nsteps: []\n", ":2:", "at least one step"),
            (
                "api: a\nsteps:\n  - respond:\n      - {times: 2}\n",
                ":4:",
                "needs a status",
            ),
        ];
        for (text, line, want) in cases {
            let e = parse("s.yaml", text).unwrap_err().to_string();
            assert!(e.starts_with(&format!("s.yaml{line}")), "{e}");
            assert!(e.contains(want), "{e}");
        }
    }
}
