//! Checking a scenario against its API and dataset before it runs: the API, collection,
//! operation paths and statuses it names exist, and replaying every step in order on a scratch
//! session leaves every entity it touched valid against the spec. A failure names the file, the
//! line of the step (or of the field set) and the problem.

use std::sync::Arc;

use super::session::{Active, Datasets, Session};
use super::{Scenario, Trigger};
use crate::contract;
use crate::error::Result;
use crate::spec::Api;

/// Check `sc` against `api` and its dataset.
pub fn check(
    sc: &Arc<Scenario>,
    api: &Api,
    schemas: &contract::Schemas,
    data: &dyn Datasets,
    seed: u64,
) -> Result<()> {
    let Some((cname, coll)) = data.collection(&sc.api, sc.collection.as_deref()) else {
        return Err(sc.error_at(
            "collection",
            format!(
                "API '{}' has no collection {}",
                sc.api,
                sc.collection
                    .as_deref()
                    .unwrap_or("(it has several generated ones: name one)")
            ),
        ));
    };
    let has_op = |method: Option<&str>, path: &str| {
        api.operations
            .iter()
            .any(|o| o.path == path && method.is_none_or(|m| m == o.method))
    };
    for (k, step) in sc.steps.iter().enumerate() {
        if let Trigger::Request { method, path, .. } = &step.trigger
            && !has_op(method.as_deref(), path)
        {
            return Err(sc.error_at(
                &format!("steps[{k}].request.path"),
                format!(
                    "{} has no operation {} {path}",
                    sc.api,
                    method.as_deref().unwrap_or("*")
                ),
            ));
        }
        for (j, r) in step.rules.iter().enumerate() {
            let at = format!("steps[{k}].respond[{j}]");
            if let Some(p) = &r.path
                && !has_op(r.method.as_deref(), p)
            {
                return Err(sc.error_at(
                    &format!("{at}.match.path"),
                    format!(
                        "{} has no operation {} {p}",
                        sc.api,
                        r.method.as_deref().unwrap_or("*")
                    ),
                ));
            }
            if let Some(status) = r.status {
                for op in api.operations.iter().filter(|o| {
                    r.path.as_deref().is_none_or(|p| p == o.path)
                        && r.method.as_deref().is_none_or(|m| m == o.method)
                }) {
                    if !op.responses.iter().any(|d| d.status == status.to_string()) {
                        return Err(sc.error_at(
                            &format!("{at}.status"),
                            format!(
                                "{} {} {} does not document status {status}",
                                sc.api, op.method, op.path
                            ),
                        ));
                    }
                }
            }
        }
    }
    let validators: Vec<(String, jsonschema::Validator)> = coll
        .model
        .schemas
        .iter()
        .map(|name| {
            schemas
                .component(name)
                .map(|v| (name.clone(), v))
                .map_err(|e| {
                    sc.error_at(
                        "api",
                        format!("{}: components.schemas.{name}: {e}", api.file),
                    )
                })
        })
        .collect::<Result<_>>()?;
    // Replay every step in order, whatever its trigger.
    let mut session = Session::default();
    let vars = session
        .inputs_of(sc, &[], data)
        .map_err(|m| sc.error_at("inputs", m))?;
    session.active.push(Active {
        scenario: sc.clone(),
        started_ms: 0,
        next: 0,
        seen: 0,
        fired: Vec::new(),
        vars,
        rules: Vec::new(),
        failed: None,
        last_fired_ms: 0,
        made: 0,
        history: Vec::new(),
    });
    let mut clock = 0u64;
    for (k, step) in sc.steps.iter().enumerate() {
        if let Trigger::At(t) = step.trigger {
            clock = t;
        }
        session
            .fire(0, clock, seed, data)
            .map_err(|m| sc.error_at(&format!("steps[{k}]"), m))?;
        let Some(overlay) = session.overlay(&sc.api, &cname) else {
            continue;
        };
        let touched = overlay
            .changed()
            .into_iter()
            .map(|(i, v)| (i as usize, v))
            .chain(
                overlay
                    .added()
                    .enumerate()
                    .map(|(j, v)| (coll.len() + j, v)),
            );
        for (i, entity) in touched {
            for (name, v) in &validators {
                if let Some(e) = v.iter_errors(&entity).next() {
                    let at = e.instance_path().to_string();
                    let field = at.trim_start_matches('/').replace('/', ".");
                    let location = locate_set(step, k, &field);
                    return Err(sc.error_at(
                        &location,
                        format!(
                            "step {} would make entity #{i} invalid against {name}: {e} (at {})",
                            step.name,
                            if at.is_empty() { "/" } else { &at }
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The most precise location for a problem with `field` in step `k`.
fn locate_set(step: &super::Step, k: usize, field: &str) -> String {
    for (j, (_, sets)) in step.updates.iter().enumerate() {
        for (p, _) in sets {
            if field.starts_with(p.as_str()) || p.starts_with(field) {
                return format!("steps[{k}].update[{j}].set.{p}");
            }
        }
    }
    for (j, (_, sets)) in step.creates.iter().enumerate() {
        for (p, _) in sets {
            if field.starts_with(p.as_str()) || p.starts_with(field) {
                return format!("steps[{k}].create[{j}].set.{p}");
            }
        }
    }
    format!("steps[{k}]")
}
