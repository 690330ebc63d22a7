//! Running scenarios: per-session clocks, the active scenarios and their next steps, the
//! changes they made to the dataset (overlays) and the response rules they installed.
//!
//! A session is created on first use (the `X-Understudy-Session` header; no header is the
//! `default` session) with the server's `--scenario`s started. Everything a session does is a
//! function of its own sequence of requests, clock advances and manual steps, so replays are
//! byte-identical; sessions never see each other.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::sync::lock;

use rand::SeedableRng;
use serde_json::{Value, json};
use siphasher::sip::SipHasher13;

use super::{Expr, LetGen, Rule, Scenario, Target, Trigger};
use crate::data::entity::{Entity, eval_free, format_millis};
use crate::data::path::{extract, set_path};
use crate::data::{Collection, CollectionModel, Overlay, View};

/// Scenario time zero: 2026-11-01T00:00:00.000Z (after every generated timestamp).
pub const CLOCK_ORIGIN_MS: i64 = 1_793_491_200_000;

/// How far a session's clock may go: 100 years of scenario time.
pub const MAX_CLOCK_MS: u64 = 100 * 365 * 86_400_000;

/// Where a scenario's collection lives; implemented by the engine.
pub trait Datasets {
    /// The collection `collection` (or the API's only one) of API `api`.
    fn collection(&self, api: &str, collection: Option<&str>) -> Option<(String, &Collection)>;
}

/// A response rule in force.
#[derive(Debug, Clone)]
pub struct LiveRule {
    pub rule: Rule,
    /// The index of the step that put it in force.
    pub step: usize,
    pub remaining: Option<u64>,
    pub until_ms: Option<u64>,
}

/// A scenario running in a session.
#[derive(Debug, Clone)]
pub struct Active {
    pub scenario: Arc<Scenario>,
    pub started_ms: u64,
    pub next: usize,
    pub seen: u64,
    pub fired: Vec<String>,
    pub vars: HashMap<String, Value>,
    pub rules: Vec<LiveRule>,
    /// Why the scenario stopped progressing, if a step could not apply.
    pub failed: Option<String>,
    /// Scenario time at which the last step fired (an `at` step never fires earlier).
    pub last_fired_ms: u64,
    /// Entities this run has created so far (it reuses the slots of earlier runs first).
    pub made: usize,
    /// The steps fired so far, in order: when, and which entities each touched.
    pub history: Vec<Fired>,
}

/// A step that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub step: usize,
    /// Scenario time it fired at.
    pub at_ms: u64,
    /// Keys of the entities it updated, created or deleted, in that order.
    pub touched: Vec<String>,
}

impl Active {
    /// When the next step, if it is an `at` step, is due: its scheduled time, but never before
    /// the step ahead of it fired.
    fn due_at(&self) -> Option<u64> {
        match self.scenario.steps.get(self.next).map(|s| &s.trigger) {
            Some(Trigger::At(t)) => {
                Some(self.started_ms.saturating_add(*t).max(self.last_fired_ms))
            }
            _ => None,
        }
    }
}

/// One session's state.
#[derive(Debug, Default)]
pub struct Session {
    pub id: String,
    pub clock_ms: u64,
    pub active: Vec<Active>,
    /// Changes by (API, collection).
    pub overlays: BTreeMap<(String, String), Overlay>,
    pub requests: u64,
    /// Per scenario, the entity slots its runs created, in order: a scenario started again
    /// creates into the same slots, so restarts replace what earlier runs added instead of
    /// piling up entities.
    pub slots: HashMap<String, Vec<u32>>,
    /// The scenario time of the last write through the API (writes are stamped in order).
    pub(crate) last_write_ms: Option<u64>,
    /// Bytes of entities written through the API so far (bounded by [`MAX_WRITE_BYTES`]).
    pub(crate) written_bytes: usize,
    /// Entities written through the API so far (bounded by [`MAX_WRITES`]).
    pub(crate) written: usize,
    /// Scenarios a write starts instead of the ones its operation names (set by steps).
    pub(crate) substitutes: HashMap<String, String>,
    /// The wall-clock time of scenario time zero (`--epoch`; default [`CLOCK_ORIGIN_MS`]).
    pub epoch_ms: Option<i64>,
}

/// Most entities one session may write (create, replace, update or archive) through the API.
pub(crate) const MAX_WRITES: usize = 100_000;

/// Most bytes of written entities one session may hold.
pub(crate) const MAX_WRITE_BYTES: usize = 64 << 20;

/// Most bytes of written entities all sessions together may hold (the sessions a reset or an
/// eviction forgets give theirs back).
pub(crate) const MAX_TOTAL_WRITE_BYTES: usize = 512 << 20;

/// What a response rule asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub rule: Rule,
    /// The scenario and step that scripted it.
    pub by: Scripted,
}

/// The scenario step whose rule answered a request (for the request journal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scripted {
    pub scenario: String,
    pub step: usize,
    pub step_name: String,
}

impl Session {
    /// The wall-clock time (Unix ms) of this session's scenario time zero.
    pub fn origin_ms(&self) -> i64 {
        self.epoch_ms.unwrap_or(CLOCK_ORIGIN_MS)
    }

    /// The overlay of a collection, if the session changed it.
    pub fn overlay(&self, api: &str, collection: &str) -> Option<&Overlay> {
        // A session holds a few overlays: comparing keys costs less than making one to look
        // up (this runs several times for every write).
        self.overlays
            .iter()
            .find(|((a, c), _)| a == api && c == collection)
            .map(|(_, o)| o)
    }

    /// Start a scenario and fire the steps due at once. If one of them cannot apply to this
    /// session's data, the start is undone entirely and the reason returned.
    pub fn start(
        &mut self,
        sc: Arc<Scenario>,
        seed: u64,
        data: &dyn Datasets,
    ) -> Result<(), String> {
        self.start_with(sc, seed, data, &[])
    }

    /// The scenario's input variables: the values `given`, else the keys of their default
    /// entities as this session sees them.
    pub(crate) fn inputs_of(
        &self,
        sc: &Scenario,
        given: &[(String, Value)],
        data: &dyn Datasets,
    ) -> Result<HashMap<String, Value>, String> {
        let mut vars = HashMap::new();
        for (name, t) in &sc.inputs {
            let v = match given.iter().find(|(n, _)| n == name) {
                Some((_, v)) => v.clone(),
                None => {
                    let (cname, coll) = data
                        .collection(&sc.api, sc.collection.as_deref())
                        .ok_or_else(|| format!("API '{}' has no such collection", sc.api))?;
                    let view = View::new(coll, self.overlay(&sc.api, &cname));
                    let i = resolve(&view, t, &HashMap::new())
                        .map_err(|m| format!("input '{name}': {m}"))?;
                    Value::String(view.key(i))
                }
            };
            vars.insert(name.clone(), v);
        }
        Ok(vars)
    }

    /// Start a scenario with input variables `given` (the others take their defaults).
    pub(crate) fn start_with(
        &mut self,
        sc: Arc<Scenario>,
        seed: u64,
        data: &dyn Datasets,
        given: &[(String, Value)],
    ) -> Result<(), String> {
        if self.active.iter().any(|a| a.scenario.name == sc.name) {
            return Err(format!("scenario '{}' is already active", sc.name));
        }
        let vars = self.inputs_of(&sc, given, data)?;
        let overlays = self.overlays.clone();
        let substitutes = self.substitutes.clone();
        let slots = self.slots.clone();
        self.active.push(Active {
            made: 0,
            scenario: sc,
            started_ms: self.clock_ms,
            next: 0,
            seen: 0,
            fired: Vec::new(),
            vars,
            rules: Vec::new(),
            failed: None,
            last_fired_ms: self.clock_ms,
            history: Vec::new(),
        });
        let i = self.active.len() - 1;
        self.settle(i, seed, data);
        if let Some(reason) = self.active[i].failed.clone() {
            self.active.pop();
            self.overlays = overlays;
            self.slots = slots;
            self.substitutes = substitutes;
            return Err(reason);
        }
        Ok(())
    }

    /// Stop a scenario: its rules go; the changes it made stay until reset.
    pub fn stop(&mut self, name: &str) -> Option<Active> {
        let i = self.active.iter().position(|a| a.scenario.name == name)?;
        Some(self.active.remove(i))
    }

    /// Advance the clock by `by_ms`, firing every step that comes due on the way, in time order
    /// across scenarios and each at its own scheduled time.
    pub fn advance(&mut self, by_ms: u64, seed: u64, data: &dyn Datasets) -> Result<(), String> {
        let target = self
            .clock_ms
            .checked_add(by_ms)
            .filter(|t| *t <= MAX_CLOCK_MS)
            .ok_or_else(|| {
                format!(
                    "the clock cannot go past {} days",
                    MAX_CLOCK_MS / 86_400_000
                )
            })?;
        while let Some((i, at)) = self.next_due(target) {
            self.clock_ms = self.clock_ms.max(at);
            self.try_fire(i, at, seed, data);
            self.settle(i, seed, data);
        }
        self.clock_ms = target;
        Ok(())
    }

    /// The earliest `at` step due by `target`: (scenario, scheduled time).
    fn next_due(&self, target: u64) -> Option<(usize, u64)> {
        self.active
            .iter()
            .enumerate()
            .filter(|(_, a)| a.failed.is_none())
            .filter_map(|(i, a)| a.due_at().filter(|at| *at <= target).map(|at| (i, at)))
            .min_by_key(|(i, at)| (*at, *i))
    }

    /// Fire the next step of `name` if it is manual.
    pub fn next(&mut self, name: &str, seed: u64, data: &dyn Datasets) -> Result<(), String> {
        let i = self
            .active
            .iter()
            .position(|a| a.scenario.name == name)
            .ok_or_else(|| format!("scenario '{name}' is not active"))?;
        let a = &self.active[i];
        if let Some(f) = &a.failed {
            return Err(format!("scenario '{name}' has failed: {f}"));
        }
        match a.scenario.steps.get(a.next).map(|s| &s.trigger) {
            Some(Trigger::Manual) => {
                let now = self.clock_ms;
                self.fire(i, now, seed, data)?;
                self.settle(i, seed, data);
                Ok(())
            }
            Some(_) => Err(format!(
                "the next step of '{name}' ({}) is not manual",
                waiting_for(a).unwrap_or_default()
            )),
            None => Err(format!("scenario '{name}' has no steps left")),
        }
    }

    /// A request for (api, method, operation path) arrives: count it for request triggers,
    /// then find the response rule that applies, if any.
    pub fn on_request(
        &mut self,
        api: &str,
        method: &str,
        op_path: &str,
        seed: u64,
        data: &dyn Datasets,
    ) -> Option<Outcome> {
        for i in 0..self.active.len() {
            let a = &mut self.active[i];
            if a.scenario.api != api || a.failed.is_some() {
                continue;
            }
            let sc = a.scenario.clone();
            let due = match sc.steps.get(a.next).map(|s| &s.trigger) {
                Some(Trigger::Request {
                    method: m,
                    path,
                    count,
                }) if path == op_path && m.as_deref().is_none_or(|m| m == method) => {
                    a.seen += 1;
                    a.seen >= *count
                }
                _ => false,
            };
            if due {
                let now = self.clock_ms;
                self.try_fire(i, now, seed, data);
                self.settle(i, seed, data);
            }
        }
        let clock = self.clock_ms;
        for a in &mut self.active {
            if a.scenario.api != api {
                continue;
            }
            a.rules
                .retain(|r| r.until_ms.is_none_or(|u| clock < u) && r.remaining != Some(0));
            for r in &mut a.rules {
                let m_ok = r.rule.method.as_deref().is_none_or(|m| m == method);
                let p_ok = r.rule.path.as_deref().is_none_or(|p| p == op_path);
                if m_ok && p_ok {
                    if let Some(n) = &mut r.remaining {
                        *n -= 1;
                    }
                    return Some(Outcome {
                        rule: r.rule.clone(),
                        by: Scripted {
                            scenario: a.scenario.name.clone(),
                            step: r.step,
                            step_name: a
                                .scenario
                                .steps
                                .get(r.step)
                                .map(|s| s.name.clone())
                                .unwrap_or_default(),
                        },
                    });
                }
            }
        }
        None
    }

    /// Fire steps that need no further event: immediate ones, and `at` steps already due (each
    /// at its scheduled time).
    fn settle(&mut self, i: usize, seed: u64, data: &dyn Datasets) {
        loop {
            let a = &self.active[i];
            if a.failed.is_some() {
                return;
            }
            let at = match a.scenario.steps.get(a.next).map(|s| &s.trigger) {
                Some(Trigger::Immediate) => self.clock_ms,
                Some(Trigger::At(_)) => match a.due_at().filter(|at| *at <= self.clock_ms) {
                    Some(at) => at,
                    None => return,
                },
                _ => return,
            };
            self.try_fire(i, at, seed, data);
        }
    }

    /// Fire, and on failure mark the scenario failed (it stops progressing; the state says
    /// why) instead of failing the request or clock advance that triggered it.
    fn try_fire(&mut self, i: usize, at: u64, seed: u64, data: &dyn Datasets) {
        if let Err(m) = self.fire(i, at, seed, data) {
            let a = &mut self.active[i];
            let step = a
                .scenario
                .steps
                .get(a.next)
                .map_or_else(|| format!("#{}", a.next), |s| s.name.clone());
            tracing::warn!("scenario {} step {step} failed: {m}", a.scenario.name);
            a.failed = Some(format!("step {step}: {m}"));
        }
    }

    /// Apply the next step of active scenario `i` as of scenario time `at` (ms): whole or not
    /// at all.
    pub fn fire(
        &mut self,
        i: usize,
        at: u64,
        seed: u64,
        data: &dyn Datasets,
    ) -> Result<(), String> {
        let origin_ms = self
            .origin_ms()
            .saturating_add(i64::try_from(at).unwrap_or(i64::MAX));
        let now = Value::String(format_millis(origin_ms));
        let a = &self.active[i];
        let sc = a.scenario.clone();
        let step_ix = a.next;
        let Some(step) = sc.steps.get(step_ix) else {
            return Ok(());
        };
        let mut vars = a.vars.clone();
        for (name, g) in &step.lets {
            let v = match g {
                LetGen::Now => now.clone(),
                LetGen::Gen(fg) => {
                    let mut h = SipHasher13::new_with_keys(seed, 0x6c65_7476_616c_7565);
                    h.write(sc.name.as_bytes());
                    h.write_u64(step_ix as u64);
                    h.write(name.as_bytes());
                    let rng = rand_chacha::ChaCha8Rng::seed_from_u64(h.finish());
                    eval_free(fg, rng).unwrap_or(Value::Null)
                }
            };
            vars.insert(name.clone(), v);
        }
        let (cname, coll) = data
            .collection(&sc.api, sc.collection.as_deref())
            .ok_or_else(|| format!("API '{}' has no such collection", sc.api))?;
        let key = (sc.api.clone(), cname);
        // Work on a copy, so that a step applies whole or not at all.
        let mut overlay = self.overlays.get(&key).cloned().unwrap_or_default();
        let mut slots = self.slots.get(&sc.name).cloned().unwrap_or_default();
        let mut made = self.active[i].made;
        let (created, touched) = apply_step(
            &mut overlay,
            coll,
            seed,
            step,
            &vars,
            &now,
            &mut Slots {
                taken: &mut slots,
                next: &mut made,
            },
        )?;
        overlay.forget_orders();
        self.overlays.insert(key, overlay);
        self.slots.insert(sc.name.clone(), slots);
        vars.extend(created);
        let a = &mut self.active[i];
        a.made = made;
        a.vars = vars;
        if step.clear_rules {
            a.rules.clear();
        }
        for r in &step.rules {
            a.rules.push(LiveRule {
                rule: r.clone(),
                step: step_ix,
                remaining: r.times,
                until_ms: r.window_ms.map(|w| at.saturating_add(w)),
            });
        }
        a.fired.push(step.name.clone());
        a.history.push(Fired {
            step: step_ix,
            at_ms: at,
            touched,
        });
        a.next += 1;
        for (from, to) in &step.substitutes {
            self.substitutes.insert(from.clone(), to.clone());
        }
        let a = &mut self.active[i];
        a.seen = 0;
        a.last_fired_ms = a.last_fired_ms.max(at);
        Ok(())
    }

    /// The time of the next write through the API, as Unix milliseconds and as scenario
    /// time: the session's clock, one millisecond after the previous write when the clock has
    /// not moved past it, so writes made at one clock reading still sort in the order they
    /// were made. The write that keeps its change records the second in `last_write_ms`.
    pub(crate) fn next_write_time(&self) -> (i64, u64) {
        let at = match self.last_write_ms {
            Some(last) if last >= self.clock_ms => last + 1,
            _ => self.clock_ms,
        };
        (
            self.origin_ms()
                .saturating_add(i64::try_from(at).unwrap_or(i64::MAX)),
            at,
        )
    }

    /// Stop every run a write started for the entity `key` (timeline runs are named
    /// `NAME@KEY`), and forget the finished runs of every entity.
    pub(crate) fn stop_runs_of(&mut self, key: &str) {
        let suffix = format!("@{key}");
        let done = |a: &Active| {
            a.scenario.name.contains('@') && a.next >= a.scenario.steps.len() && a.rules.is_empty()
        };
        let gone: Vec<String> = self
            .active
            .iter()
            .filter(|a| a.scenario.name.ends_with(&suffix) || done(a))
            .map(|a| a.scenario.name.clone())
            .collect();
        for name in gone {
            self.stop(&name);
            self.slots.remove(&name);
        }
    }

    /// The overlay of a collection, created empty on first use.
    pub(crate) fn overlay_mut(&mut self, api: &str, collection: &str) -> &mut Overlay {
        self.overlays
            .entry((api.to_string(), collection.to_string()))
            .or_default()
    }

    /// The session's state, as the admin API shows it.
    pub fn state(&self) -> Value {
        let mut changes = serde_json::Map::new();
        for ((api, _), o) in &self.overlays {
            let (u, c, d) = o.counts();
            changes.insert(
                api.clone(),
                json!({"updated": u, "created": c, "deleted": d}),
            );
        }
        json!({
            "session": self.id,
            "clock_ms": self.clock_ms,
            "now": format_millis(self.origin_ms().saturating_add(self.clock_ms as i64)),
            "scenarios": self.active.iter().map(active_state).collect::<Vec<_>>(),
            "changes": changes,
        })
    }
}

/// One active scenario, as the admin API shows it.
pub fn active_state(a: &Active) -> Value {
    json!({
        "name": a.scenario.name,
        "api": a.scenario.api,
        "started_at_ms": a.started_ms,
        "next_step": a.next,
        "steps": a.scenario.steps.len(),
        "fired": a.fired,
        "waiting_for": waiting_for(a),
        "failed": a.failed,
        "collection": a.scenario.collection,
        "timeline": timeline(a),
    })
}

/// Each step of an active scenario: its trigger, whether it fired (when, touching which
/// entities), is next or pending, and when an `at` step is due (scenario time, ms).
fn timeline(a: &Active) -> Vec<Value> {
    a.scenario
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let fired = a.history.iter().find(|f| f.step == i);
            let status = if fired.is_some() {
                "fired"
            } else if a.failed.is_some() && i == a.next {
                "failed"
            } else if i == a.next {
                "next"
            } else {
                "pending"
            };
            let trigger = match &step.trigger {
                Trigger::Immediate => json!({"kind": "immediate"}),
                Trigger::At(t) => json!({
                    "kind": "at",
                    "after_ms": t,
                    // The next step never fires before the one ahead of it did.
                    "due_ms": if i == a.next { a.due_at() } else { None }
                        .unwrap_or_else(|| a.started_ms.saturating_add(*t)),
                }),
                Trigger::Request {
                    method,
                    path,
                    count,
                } => json!({
                    "kind": "request",
                    "method": method,
                    "path": path,
                    "count": count,
                    "seen": if i == a.next { a.seen } else { 0 },
                }),
                Trigger::Manual => json!({"kind": "manual"}),
            };
            json!({
                "index": i,
                "name": step.name,
                "status": status,
                "trigger": trigger,
                "fired_at_ms": fired.map(|f| f.at_ms),
                "touched": fired.map(|f| f.touched.clone()).unwrap_or_default(),
            })
        })
        .collect()
}

fn waiting_for(a: &Active) -> Option<String> {
    let step = a.scenario.steps.get(a.next)?;
    Some(match &step.trigger {
        Trigger::Immediate => format!("step {} (immediate)", step.name),
        Trigger::At(t) => format!(
            "step {} at {} ms after the start (clock {} ms)",
            step.name,
            t,
            a.started_ms.saturating_add(*t)
        ),
        Trigger::Request {
            method,
            path,
            count,
        } => format!(
            "step {} on request {} of {} {} ({} seen)",
            step.name,
            count,
            method.as_deref().unwrap_or("*"),
            path,
            a.seen
        ),
        Trigger::Manual => format!("step {} (manual: POST .../next)", step.name),
    })
}

/// Resolve a target to a live entity index.
fn resolve(view: &View, t: &Target, vars: &HashMap<String, Value>) -> Result<u32, String> {
    match t {
        Target::Pos(n) => {
            if view.is_live(*n) && (*n as usize) < view.base.len() {
                Ok(*n)
            } else {
                Err(format!(
                    "no entity at @{n} (the dataset has {})",
                    view.base.len()
                ))
            }
        }
        Target::Key(k) => view
            .lookup(k)
            .ok_or_else(|| format!("no entity with key '{k}'")),
        Target::Var(v) => {
            let k = vars
                .get(v)
                .map(CollectionModel::key_text)
                .ok_or_else(|| format!("no variable '{v}'"))?;
            view.lookup(&k)
                .ok_or_else(|| format!("variable '{v}' names no live entity ('{k}')"))
        }
    }
}

fn eval(
    e: &Expr,
    before: &Value,
    vars: &HashMap<String, Value>,
    now: &Value,
) -> Result<Option<Value>, String> {
    Ok(match e {
        Expr::Lit(v) => Some(v.clone()),
        Expr::Var(n) => Some(
            vars.get(n)
                .cloned()
                .ok_or_else(|| format!("no variable '{n}'"))?,
        ),
        // A field the entity does not have is left out, not set to null.
        Expr::Field(p) if !p.contains('[') => {
            let ptr: String = p
                .split('.')
                .map(|s| format!("/{}", crate::spec::schema::escape(s)))
                .collect();
            before.pointer(&ptr).cloned()
        }
        Expr::Field(p) => Some(extract(before, p)),
        Expr::Now => Some(now.clone()),
        Expr::Omit => None,
    })
}

fn apply_sets(
    entity: &mut Value,
    sets: &[(String, Expr)],
    vars: &HashMap<String, Value>,
    now: &Value,
    key_field: &str,
) -> Result<(), String> {
    let before = entity.clone();
    for (path, e) in sets {
        if path == key_field {
            return Err(format!(
                "'{key_field}' is the entity's key and cannot be changed"
            ));
        }
        let v = eval(e, &before, vars, now)?;
        set_path(entity, path, v);
    }
    Ok(())
}

/// Where a scenario run's creations go: the slots earlier runs created (reused in order),
/// then new ones.
struct Slots<'a> {
    taken: &'a mut Vec<u32>,
    next: &'a mut usize,
}

/// Apply a step's entity effects to an overlay; returns the variables it defines (`as`).
fn apply_step(
    overlay: &mut Overlay,
    coll: &Collection,
    seed: u64,
    step: &super::Step,
    vars: &HashMap<String, Value>,
    now: &Value,
    slots: &mut Slots,
) -> Result<(HashMap<String, Value>, Vec<String>), String> {
    let key_field = coll.model.key.clone();
    let base_len = coll.len();
    let mut created = HashMap::new();
    let mut touched = Vec::new();
    let mut vars = vars.clone();
    for (target, sets) in &step.updates {
        let i = resolve(&View::new(coll, Some(overlay)), target, &vars)?;
        let mut e = View::new(coll, Some(overlay)).entity(i);
        apply_sets(&mut e, sets, &vars, now, &key_field)?;
        touched.push(CollectionModel::key_text(&extract(&e, &key_field)));
        overlay.set(base_len, i, &e);
    }
    for (name, sets) in &step.creates {
        let reuse = slots.taken.get(*slots.next).copied();
        let index = reuse.unwrap_or(View::new(coll, Some(overlay)).len() as u32);
        let mut e = Entity::new(&coll.model, seed, u64::from(index)).full();
        // A create may name its key (a taken one is refused below).
        apply_sets(&mut e, sets, &vars, now, "")?;
        let key = CollectionModel::key_text(&extract(&e, &key_field));
        let holder = View::new(coll, Some(overlay)).lookup(&key);
        if holder.is_some() && holder != reuse {
            return Err(format!("a created entity's key '{key}' is already taken"));
        }
        match reuse {
            Some(slot) => overlay.replace_added(base_len, slot, key.clone(), &e),
            None => slots.taken.push(overlay.add(base_len, key.clone(), &e)),
        }
        *slots.next += 1;
        touched.push(key.clone());
        if let Some(n) = name {
            created.insert(n.clone(), Value::String(key.clone()));
            vars.insert(n.clone(), Value::String(key));
        }
    }
    for target in &step.deletes {
        // Deleting an entity that is already gone changes nothing (a scenario started again
        // after it ran once finds its work done).
        let view = View::new(coll, Some(overlay));
        let i = match resolve(&view, target, &vars) {
            Ok(i) => i,
            Err(e) => match target {
                Target::Pos(n) if (*n as usize) < coll.len() => *n,
                Target::Key(k) => view.lookup_any(k).ok_or(e)?,
                _ => return Err(e),
            },
        };
        touched.push(CollectionModel::key_text(&extract(
            &View::new(coll, Some(overlay)).entity(i),
            &key_field,
        )));
        overlay.deleted.insert(i);
    }
    Ok((created, touched))
}

/// All sessions of a server.
pub struct Sessions {
    pub scenarios: BTreeMap<String, Arc<Scenario>>,
    /// Scenarios every new session starts with (`--scenario`).
    pub initial: Vec<String>,
    map: Mutex<SessionMap>,
    /// Whether the default session may differ from the plain dataset.
    touched: AtomicBool,
    /// Bytes of written entities held by all sessions (see [`MAX_TOTAL_WRITE_BYTES`]).
    written_total: std::sync::atomic::AtomicUsize,
    /// Scenario time zero of every session, as wall-clock Unix ms (`--epoch`).
    pub epoch_ms: Option<i64>,
}

/// Sessions by id, and when each was last used (for eviction).
#[derive(Default)]
struct SessionMap {
    by_id: HashMap<String, Arc<Mutex<Session>>>,
    last_used: HashMap<String, u64>,
    tick: u64,
}

/// Most sessions kept at once; past this the least recently used one (never the default) is
/// forgotten, and starts afresh if it comes back.
pub const MAX_SESSIONS: usize = 4096;

/// The name of the session used by requests without the header.
pub const DEFAULT_SESSION: &str = "default";

/// Longest session id accepted.
pub const MAX_SESSION_ID: usize = 128;

/// A session id is 1 to [`MAX_SESSION_ID`] characters of letters, digits and `._:@+=/-`.
pub fn check_id(id: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "._:@+=/-".contains(c);
    if id.is_empty() || id.len() > MAX_SESSION_ID || !id.chars().all(ok_char) {
        return Err(format!(
            "X-Understudy-Session: a session id is 1 to {MAX_SESSION_ID} characters of letters, \
             digits and ._:@+=/-"
        ));
    }
    Ok(())
}

impl Sessions {
    pub fn new(scenarios: Vec<Scenario>, initial: Vec<String>) -> Self {
        let touched = AtomicBool::new(!initial.is_empty());
        Sessions {
            scenarios: scenarios
                .into_iter()
                .map(|s| (s.name.clone(), Arc::new(s)))
                .collect(),
            initial,
            map: Mutex::new(SessionMap::default()),
            touched,
            written_total: Default::default(),
            epoch_ms: None,
        }
    }

    /// Whether `bytes` more of written entities fit in the server's budget.
    pub(crate) fn has_room(&self, bytes: usize) -> bool {
        self.written_total
            .load(Ordering::Acquire)
            .saturating_add(bytes)
            <= MAX_TOTAL_WRITE_BYTES
    }

    /// Count `bytes` of written entities against the budget (a write kept).
    pub(crate) fn take(&self, bytes: usize) {
        self.written_total.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Give back `bytes` of the budget (a session reset or forgotten).
    pub(crate) fn release(&self, bytes: usize) {
        let _ = self
            .written_total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_sub(bytes))
            });
    }

    /// Whether a request without the session header can skip sessions entirely.
    pub fn default_is_plain(&self) -> bool {
        !self.touched.load(Ordering::Acquire)
    }

    /// The session `id`, created (with the initial scenarios) on first use; `first_request` is
    /// the number of requests it has already answered (the default session continues the count
    /// of requests served before it existed, so request ids never repeat).
    pub fn get(
        &self,
        id: &str,
        seed: u64,
        data: &dyn Datasets,
        first_request: u64,
    ) -> Result<Arc<Mutex<Session>>, String> {
        let mut map = lock(&self.map);
        map.tick += 1;
        let tick = map.tick;
        if let Some(s) = map.by_id.get(id).cloned() {
            if id != DEFAULT_SESSION {
                map.last_used.insert(id.to_string(), tick);
            }
            return Ok(s);
        }
        let mut fresh = self.fresh(id, seed, data)?;
        fresh.requests = first_request;
        let s = Arc::new(Mutex::new(fresh));
        map.by_id.insert(id.to_string(), s.clone());
        if id == DEFAULT_SESSION {
            self.touched.store(true, Ordering::Release);
        } else {
            map.last_used.insert(id.to_string(), tick);
            if map.last_used.len() > MAX_SESSIONS
                && let Some(oldest) = map
                    .last_used
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| k.clone())
            {
                map.last_used.remove(&oldest);
                if let Some(gone) = map.by_id.remove(&oldest)
                    && let Ok(g) = gone.try_lock()
                {
                    self.release(g.written_bytes);
                }
            }
        }
        Ok(s)
    }

    /// Every session held now (the default one too, once it exists).
    pub fn all(&self) -> Vec<Arc<Mutex<Session>>> {
        lock(&self.map).by_id.values().cloned().collect()
    }

    /// The session `id` if it exists (read-only admin calls do not create sessions).
    pub fn peek(&self, id: &str) -> Option<Arc<Mutex<Session>>> {
        lock(&self.map).by_id.get(id).cloned()
    }

    /// A new session with the initial scenarios started.
    pub fn fresh(&self, id: &str, seed: u64, data: &dyn Datasets) -> Result<Session, String> {
        let mut s = Session {
            id: id.to_string(),
            epoch_ms: self.epoch_ms,
            ..Session::default()
        };
        for name in &self.initial {
            let sc = self
                .scenarios
                .get(name)
                .ok_or_else(|| format!("no scenario '{name}'"))?;
            s.start(sc.clone(), seed, data)?;
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoData;
    impl Datasets for NoData {
        fn collection(&self, _: &str, _: Option<&str>) -> Option<(String, &Collection)> {
            None
        }
    }

    #[test]
    fn the_servers_write_budget_is_shared_and_given_back() {
        let sessions = Sessions::new(Vec::new(), Vec::new());
        assert!(sessions.has_room(MAX_TOTAL_WRITE_BYTES));
        sessions.take(MAX_TOTAL_WRITE_BYTES - 10);
        assert!(sessions.has_room(10));
        assert!(!sessions.has_room(11));
        sessions.release(100);
        assert!(sessions.has_room(110));
        sessions.release(usize::MAX);
        assert!(sessions.has_room(MAX_TOTAL_WRITE_BYTES));
    }

    #[test]
    fn the_least_recently_used_session_is_forgotten() {
        let sessions = Sessions::new(Vec::new(), Vec::new());
        let keep = sessions.get("keep", 1, &NoData, 0).unwrap();
        lock(&keep).clock_ms = 5;
        sessions.get("first-other", 1, &NoData, 0).unwrap();
        for i in 0..MAX_SESSIONS {
            sessions.get(&format!("s{i}"), 1, &NoData, 0).unwrap();
            if i % 100 == 0 {
                sessions.get("keep", 1, &NoData, 0).unwrap();
            }
        }
        assert_eq!(lock(&sessions.peek("keep").unwrap()).clock_ms, 5);
        assert!(sessions.peek("first-other").is_none());
        assert!(sessions.peek(&format!("s{}", MAX_SESSIONS - 1)).is_some());
    }
}
