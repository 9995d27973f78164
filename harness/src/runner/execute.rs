//! Runs a scenario's steps in order: leaves through their verb module,
//! blocks through `try`/`catch`/`finally`. Every step, run or not, gets
//! exactly one [`StepReport`], so reports have one row (and one JUnit
//! testcase) per step of the file.
//!
//! After a failure the remaining steps of the same list are skipped, `catch`
//! blocks of enclosing `try`s run, and every `finally` runs. The diagnostics
//! bundle is collected at the first failure, before any of that.

use std::time::Instant;

use super::{
    apply, assert,
    context::Ctx,
    deadline::Deadline,
    delete, diagnostics, exec,
    objects::Target,
    patch, produce,
    report::{Elapsed, Failure, Outcome, StepReport},
    verify, wait,
};
use crate::{
    cluster::Capability,
    scenario::{
        Action, Step,
        duration::format_spec,
        verbs::{Mode, WaitFor},
    },
};

/// Walks the steps of one scenario.
pub(crate) struct Executor<'a, 'p> {
    pub(crate) ctx: Ctx<'a>,
    pub(crate) reports: Vec<StepReport>,
    pub(crate) diagnostics: Option<std::path::PathBuf>,
    /// Called as each step finishes (live progress on stdout).
    pub(crate) on_step: &'p (dyn Fn(&StepReport) + Sync),
}

impl Executor<'_, '_> {
    /// Runs `steps`; returns whether all of them passed (or were skipped by
    /// the backend's capabilities).
    pub(crate) async fn run_steps(&mut self, steps: &[Step], prefix: &str) -> bool {
        let mut ok = true;
        for (index, step) in steps.iter().enumerate() {
            let id = format!("{prefix}{}", index + 1);
            if !ok {
                self.skip(step, &id, "an earlier step failed");
                continue;
            }
            ok = match &step.action {
                Action::Block(block) => {
                    let try_ok =
                        Box::pin(self.run_steps(&block.try_steps, &format!("{id}.try."))).await;
                    let catch_ok = if try_ok {
                        self.skip_all(
                            &block.catch_steps,
                            &format!("{id}.catch."),
                            "the try block passed",
                        );
                        true
                    } else {
                        Box::pin(self.run_steps(&block.catch_steps, &format!("{id}.catch."))).await
                    };
                    let finally_ok =
                        Box::pin(self.run_steps(&block.finally_steps, &format!("{id}.finally.")))
                            .await;
                    try_ok && catch_ok && finally_ok
                }
                _ => self.run_leaf(step, id).await,
            };
        }
        ok
    }

    fn skip_all(&mut self, steps: &[Step], prefix: &str, reason: &str) {
        let mut skipped = Vec::new();
        skip_steps(steps, prefix, reason, &mut skipped);
        self.record_skipped(skipped);
    }

    /// Records `step` (all leaves of it, for a block) as skipped.
    pub(crate) fn skip(&mut self, step: &Step, id: &str, reason: &str) {
        let mut skipped = Vec::new();
        skip_step(step, id, reason, &mut skipped);
        self.record_skipped(skipped);
    }

    fn record_skipped(&mut self, skipped: Vec<StepReport>) {
        for report in skipped {
            (self.on_step)(&report);
            self.reports.push(report);
        }
    }

    async fn run_leaf(&mut self, step: &Step, id: String) -> bool {
        if let Some(missing) = required(&step.action)
            .into_iter()
            .find(|c| !self.ctx.cluster.capabilities.has(*c))
        {
            let reason = format!(
                "the {} backend cannot {}",
                self.ctx.cluster.info.backend,
                missing.describe()
            );
            self.skip(step, &id, &reason);
            return true;
        }
        let started_real = Instant::now();
        let started_cluster = self.ctx.clock().now();
        let result = self.dispatch(step).await;
        let durations = Elapsed {
            real: started_real.elapsed(),
            cluster: self.ctx.clock().now().since(started_cluster),
        };
        let (outcome, failure, notes) = match result {
            Ok(notes) => (Outcome::Pass, None, notes),
            Err(failure) => (Outcome::Fail, Some(failure), Vec::new()),
        };
        let report = StepReport {
            id,
            name: step_name(step),
            verb: step.action.verb(),
            outcome,
            durations,
            failure,
            skip_reason: None,
            notes,
        };
        if outcome == Outcome::Fail && self.diagnostics.is_none() {
            self.diagnostics = Some(diagnostics::collect(&self.ctx, &report).await);
        }
        (self.on_step)(&report);
        self.reports.push(report);
        outcome != Outcome::Fail
    }

    async fn dispatch(&mut self, step: &Step) -> Result<Vec<String>, Failure> {
        let ctx = &mut self.ctx;
        let kind = step.action.timeout_kind();
        let timeout = step
            .timeout
            .map(|t| t.std())
            .or_else(|| kind.map(|k| ctx.scenario.spec.timeouts.get(k)))
            .unwrap_or_default();
        let deadline = kind.map(|k| Deadline::new(k, timeout, ctx.clock()));
        let window = |mode: Mode, window: Option<crate::scenario::Duration>| {
            (mode == Mode::Consistently)
                .then(|| Deadline::window(window.map_or(timeout, |w| w.std()), ctx.clock()))
        };
        match (&step.action, deadline.as_ref()) {
            (Action::Apply(verb), Some(deadline)) => apply::run(ctx, verb, deadline).await,
            (Action::Patch(verb), Some(deadline)) => patch::run(ctx, verb, deadline).await,
            (Action::Delete(verb), Some(deadline)) => delete::run(ctx, verb, deadline).await,
            (Action::Assert(verb), Some(deadline)) => {
                let window = window(verb.mode, verb.window);
                assert::run_assert(ctx, verb, deadline, window.as_ref()).await
            }
            (Action::Error(verb), Some(deadline)) => {
                let window = window(verb.mode, verb.window);
                assert::run_refute(ctx, verb, deadline, window.as_ref()).await
            }
            (Action::Wait(verb), Some(deadline)) => wait::run(ctx, verb, deadline).await,
            (Action::Exec(verb), Some(deadline)) => exec::run(ctx, verb, deadline).await,
            (Action::Produce(verb), Some(deadline)) => produce::run(ctx, verb, deadline).await,
            (Action::Verify(verb), Some(deadline)) => verify::run(ctx, verb, deadline).await,
            (Action::Sleep(duration), _) => {
                ctx.clock().sleep(duration.std()).await;
                Ok(Vec::new())
            }
            (Action::Block(_), _) => Err(Failure::new(
                "internal error: a block reached the leaf runner",
            )),
            (_, None) => Err(Failure::new("internal error: a verb without a deadline")),
        }
    }
}

/// What a verb needs from the backend.
fn required(action: &Action) -> Vec<Capability> {
    match action {
        Action::Exec(_) => vec![Capability::HostExec],
        _ => Vec::new(),
    }
}

/// Appends a skipped report for each leaf of `steps`, numbered from
/// `prefix` the way [`Executor::run_steps`] numbers them when they run.
pub(crate) fn skip_steps(steps: &[Step], prefix: &str, reason: &str, out: &mut Vec<StepReport>) {
    for (index, step) in steps.iter().enumerate() {
        skip_step(step, &format!("{prefix}{}", index + 1), reason, out);
    }
}

/// Appends a skipped report for `step`, or for every leaf of it when it is
/// a block.
fn skip_step(step: &Step, id: &str, reason: &str, out: &mut Vec<StepReport>) {
    if let Action::Block(block) = &step.action {
        skip_steps(&block.try_steps, &format!("{id}.try."), reason, out);
        skip_steps(&block.catch_steps, &format!("{id}.catch."), reason, out);
        skip_steps(&block.finally_steps, &format!("{id}.finally."), reason, out);
        return;
    }
    out.push(StepReport {
        id: id.to_owned(),
        name: step_name(step),
        verb: step.action.verb(),
        outcome: Outcome::Skip,
        durations: Elapsed::default(),
        failure: None,
        skip_reason: Some(reason.to_owned()),
        notes: Vec::new(),
    });
}

/// The step's name, or a summary of what it does (unexpanded, so names are
/// stable across runs and namespaces).
pub(crate) fn step_name(step: &Step) -> String {
    if let Some(name) = &step.name {
        return name.clone();
    }
    let objects = |manifests: &[crate::scenario::verbs::Manifest]| match manifests {
        [] => "(nothing)".to_owned(),
        [one] => Target::of(&one.value).describe(),
        [first, rest @ ..] => format!(
            "{} (+{} more)",
            Target::of(&first.value).describe(),
            rest.len()
        ),
    };
    let by_name_or_labels =
        |kind: &str,
         name: &Option<String>,
         labels: &Option<std::collections::BTreeMap<String, String>>| match (name, labels) {
            (Some(name), _) => format!("{kind}/{name}"),
            (None, Some(labels)) => format!("{kind} -l {}", super::objects::selector(labels)),
            (None, None) => kind.to_owned(),
        };
    match &step.action {
        Action::Apply(apply) => {
            let expect = apply
                .expect
                .as_ref()
                .map(|e| format!(" (expect {})", e.code))
                .unwrap_or_default();
            format!("apply {}{expect}", objects(&apply.objects))
        }
        Action::Patch(patch) => format!("patch {}/{}", patch.kind, patch.name),
        Action::Delete(delete) => format!(
            "delete {}",
            by_name_or_labels(&delete.kind, &delete.name, &delete.labels)
        ),
        Action::Assert(assert) => {
            let mode = match (assert.mode, assert.window) {
                (Mode::Consistently, Some(window)) => format!(" (consistently {window})"),
                (Mode::Consistently, None) => " (consistently)".to_owned(),
                (Mode::Eventually, _) => String::new(),
            };
            format!("assert {}{mode}", objects(&assert.objects))
        }
        Action::Error(refute) => format!("error {}", objects(&refute.objects)),
        Action::Wait(wait) => {
            let condition = match &wait.condition {
                WaitFor::Delete => "delete".to_owned(),
                WaitFor::Create => "create".to_owned(),
                WaitFor::Condition { condition, .. } => format!("condition={condition}"),
                WaitFor::JsonPath { path, value } => format!(
                    "jsonpath={path}{}",
                    value.as_ref().map(|v| format!("={v}")).unwrap_or_default()
                ),
            };
            format!(
                "wait {} for {condition}",
                by_name_or_labels(&wait.kind, &wait.name, &wait.labels)
            )
        }
        Action::Sleep(duration) => format!("sleep {}", format_spec(duration.std())),
        Action::Exec(exec) => {
            let text = match (&exec.command, &exec.script) {
                (Some(command), _) => command.join(" "),
                (None, Some(script)) => script.lines().next().unwrap_or("").to_owned(),
                (None, None) => String::new(),
            };
            let short: String = text.chars().take(60).collect();
            format!(
                "exec {short}{}",
                if text.chars().count() > 60 { "..." } else { "" }
            )
        }
        Action::Produce(produce) => {
            let what = match (&produce.generate, &produce.file) {
                (Some(generate), _) => format!(
                    "{} generated events (seed {})",
                    generate.count, generate.seed
                ),
                (None, Some(file)) => file.clone(),
                (None, None) => String::new(),
            };
            format!("produce {what} to {} as {}", produce.topic, produce.dataset)
        }
        Action::Verify(verify) => {
            let what = match &verify.file {
                Some(file) => file.clone(),
                None => verify.datasets.join(", "),
            };
            format!("verify redis against the oracle of {what}")
        }
        Action::Block(_) => "try".to_owned(),
    }
}
