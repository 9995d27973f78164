//! Checks that need more than one field or the file system, run on every
//! scenario before anything touches a cluster.
//!
//! Each problem becomes a [`Diagnostic`] positioned with [`yaml::locate`], so
//! a missing `file:` or an undefined `${vars.x}` is reported at its own
//! `file:line:column`, like a parse error. Manifest files referenced by
//! `file:` are read here, once, and kept in the model: a run never reads a
//! scenario's inputs again after validation succeeded.

use std::{
    collections::BTreeSet,
    path::{Component, Path, PathBuf},
};

use serde_json::Value;

mod pipeline;

use harness_infra::InfraSpec;

use super::{
    Diagnostic,
    model::Document,
    path::FieldPath,
    step::{Action, Step},
    template::{self, Reference},
    verbs::{Expect, Manifest, Origin, PatchType},
    yaml,
};

/// Validates `document` (parsed from `text`, read from `file` in `dir`) and
/// loads the manifests it references. Returns every problem found.
pub(crate) fn check(
    file: &Path,
    dir: &Path,
    text: &str,
    document: &mut Document,
) -> Vec<Diagnostic> {
    let mut checker = Checker {
        file,
        dir,
        text,
        diagnostics: Vec::new(),
        defined: BTreeSet::new(),
        infra: document.spec.infra.clone(),
        datasets: BTreeSet::new(),
    };
    checker.document(document);
    checker.diagnostics
}

struct Checker<'a> {
    file: &'a Path,
    dir: &'a Path,
    text: &'a str,
    diagnostics: Vec<Diagnostic>,
    /// Variables defined so far in document order: declared ones, then
    /// captures of earlier steps.
    defined: BTreeSet<String>,
    /// `spec.infra`, which `${infra.*}` and verb defaults need.
    infra: Option<InfraSpec>,
    /// Datasets produced by earlier steps, in document order.
    datasets: BTreeSet<String>,
}

/// What a verb needs from each manifest.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ManifestUse {
    /// Written to the cluster: needs a name.
    Write,
    /// Matched against the cluster: a name is optional.
    Match,
}

impl Checker<'_> {
    fn error(&mut self, path: &FieldPath, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            file: self.file.to_path_buf(),
            location: yaml::locate(self.text, 0, path),
            path: (!path.is_root()).then(|| path.to_string()),
            message: message.into(),
        });
    }

    fn document(&mut self, document: &mut Document) {
        let root = FieldPath::root();
        let name = &document.metadata.name;
        if let Err(reason) = dns_label(name, 40) {
            self.error(
                &root.key("metadata").key("name"),
                format!("invalid scenario name {name:?}: {reason}"),
            );
        }
        if let Some(namespace) = &document.spec.namespace
            && let Err(reason) = dns_label(namespace, 63)
        {
            self.error(
                &root.key("spec").key("namespace"),
                format!("invalid namespace {namespace:?}: {reason}"),
            );
        }
        for name in document.spec.vars.keys() {
            if template::is_var_name(name) {
                self.defined.insert(name.clone());
            } else {
                self.error(
                    &root.key("spec").key("vars").key(name),
                    format!("invalid variable name {name:?}: use letters, digits, \"_\" and \"-\""),
                );
            }
        }
        for (name, value) in &document.spec.vars {
            self.templates_in_value(&root.key("spec").key("vars").key(name), value);
        }
        if let Some(infra) = &document.spec.infra {
            self.infra_spec(&root.key("spec").key("infra"), infra);
        }
        let steps_path = root.key("spec").key("steps");
        if document.spec.steps.is_empty() {
            self.error(&steps_path, "a scenario needs at least one step");
        }
        self.steps(&steps_path, &mut document.spec.steps);
    }

    fn steps(&mut self, path: &FieldPath, steps: &mut [Step]) {
        for (index, step) in steps.iter_mut().enumerate() {
            self.step(&path.index(index), step);
        }
    }

    fn step(&mut self, path: &FieldPath, step: &mut Step) {
        let verb_path = path.key(step.action.verb());
        match &mut step.action {
            Action::Apply(apply) => {
                apply.objects = self.manifests(
                    &verb_path,
                    &apply.resource,
                    &apply.resources,
                    &apply.file,
                    ManifestUse::Write,
                );
                if let Some(namespace) = &apply.namespace {
                    self.template(&verb_path.key("namespace"), namespace);
                }
                self.expect(&verb_path, apply.expect.as_ref());
            }
            Action::Patch(patch) => {
                let body = verb_path.key("patch");
                match (patch.patch_type, &patch.patch) {
                    (PatchType::Json, Value::Array(_))
                    | (PatchType::Merge | PatchType::Strategic, Value::Object(_)) => {}
                    (PatchType::Json, _) => {
                        self.error(&body, "a json patch is a list of operations")
                    }
                    _ => self.error(&body, "a merge or strategic patch is an object"),
                }
                self.templates_in_value(&body, &patch.patch);
                self.template(&verb_path.key("name"), &patch.name);
                if let Some(namespace) = &patch.namespace {
                    self.template(&verb_path.key("namespace"), namespace);
                }
                self.expect(&verb_path, patch.expect.as_ref());
            }
            Action::Delete(delete) => {
                self.name_or_labels(&verb_path, delete.name.as_deref(), delete.labels.as_ref());
                if let Some(namespace) = &delete.namespace {
                    self.template(&verb_path.key("namespace"), namespace);
                }
                self.expect(&verb_path, delete.expect.as_ref());
            }
            Action::Assert(assert) => {
                assert.objects = self.manifests(
                    &verb_path,
                    &assert.resource,
                    &assert.resources,
                    &assert.file,
                    ManifestUse::Match,
                );
                self.window(&verb_path, assert.mode, assert.window.map(|w| w.std()));
                if assert.count == Some(0) && assert.quantifier == super::verbs::Quantifier::All {
                    self.error(
                        &verb_path.key("count"),
                        "\"count: 0\" contradicts \"match: all\", which needs at least one object (use the error verb to say nothing may match)",
                    );
                }
                let names: Vec<String> = assert.capture.keys().cloned().collect();
                self.captures(&verb_path, &names);
            }
            Action::Error(refute) => {
                refute.objects = self.manifests(
                    &verb_path,
                    &refute.resource,
                    &refute.resources,
                    &refute.file,
                    ManifestUse::Match,
                );
                self.window(&verb_path, refute.mode, refute.window.map(|w| w.std()));
            }
            Action::Wait(wait) => {
                self.name_or_labels(&verb_path, wait.name.as_deref(), wait.labels.as_ref());
                if let Some(namespace) = &wait.namespace {
                    self.template(&verb_path.key("namespace"), namespace);
                }
                if let super::verbs::WaitFor::JsonPath {
                    value: Some(value), ..
                } = &wait.condition
                {
                    self.template(&verb_path.key("for"), value);
                }
                let names: Vec<String> = wait.capture.keys().cloned().collect();
                self.captures(&verb_path, &names);
            }
            Action::Sleep(_) => {}
            Action::Exec(exec) => {
                if !(0..=255).contains(&exec.exit_code) {
                    self.error(
                        &verb_path.key("exitCode"),
                        format!(
                            "an exit code is 0-255 (a signal's is 128 + its number), got {}",
                            exec.exit_code
                        ),
                    );
                }
                match (&exec.command, &exec.script) {
                    (Some(command), None) => {
                        if command.is_empty() {
                            self.error(&verb_path.key("command"), "the command is empty");
                        }
                        for (index, arg) in command.iter().enumerate() {
                            self.template(&verb_path.key("command").index(index), arg);
                        }
                    }
                    (None, Some(script)) => self.template(&verb_path.key("script"), script),
                    _ => self.error(
                        &verb_path,
                        "an exec step needs exactly one of \"command\" or \"script\"",
                    ),
                }
                for (name, value) in &exec.env {
                    if name.is_empty() || name.contains('=') || name.contains('\0') {
                        self.error(
                            &verb_path.key("env").key(name),
                            format!("invalid environment variable name {name:?}"),
                        );
                    }
                    self.template(&verb_path.key("env").key(name), value);
                }
                for (stream, expected) in [("stdout", &exec.stdout), ("stderr", &exec.stderr)] {
                    let Some(expected) = expected else { continue };
                    let base = verb_path.key(stream);
                    if let Some(equals) = &expected.equals {
                        self.template(&base.key("equals"), equals);
                    }
                    for (field, strings) in [
                        ("contains", &expected.contains),
                        ("notContains", &expected.not_contains),
                    ] {
                        for (index, text) in strings.0.iter().enumerate() {
                            // A single string is written without a list; locate it either way.
                            let path = if strings.0.len() == 1 {
                                base.key(field)
                            } else {
                                base.key(field).index(index)
                            };
                            self.template(&path, text);
                        }
                    }
                }
                let names: Vec<String> = exec.capture.keys().cloned().collect();
                self.captures(&verb_path, &names);
            }
            Action::Produce(produce) => self.produce(&verb_path, produce),
            Action::Verify(verify) => self.verify(&verb_path, verify),
            Action::Block(block) => {
                self.steps(&path.key("try"), &mut block.try_steps);
                self.steps(&path.key("catch"), &mut block.catch_steps);
                self.steps(&path.key("finally"), &mut block.finally_steps);
            }
        }
        if let Some(name) = &step.name {
            self.template(&path.key("name"), name);
        }
    }

    fn expect(&mut self, path: &FieldPath, expect: Option<&Expect>) {
        let Some(expect) = expect else { return };
        let path = path.key("expect");
        if !(400..=599).contains(&expect.code) {
            self.error(
                &path.key("code"),
                format!("expected an HTTP error code (400-599), got {}", expect.code),
            );
        }
        if let Some(reason) = &expect.reason {
            self.template(&path.key("reason"), reason);
        }
        if let Some(message) = &expect.message {
            self.template(&path.key("message"), message);
        }
    }

    fn window(
        &mut self,
        path: &FieldPath,
        mode: super::verbs::Mode,
        window: Option<std::time::Duration>,
    ) {
        let Some(window) = window else { return };
        if mode == super::verbs::Mode::Eventually {
            self.error(
                &path.key("window"),
                "\"window\" only applies to mode \"consistently\"",
            );
        } else if window.is_zero() {
            self.error(
                &path.key("window"),
                "a window of 0s checks nothing; give it a length",
            );
        }
    }

    fn captures(&mut self, path: &FieldPath, names: &[String]) {
        for name in names {
            if template::is_var_name(name) {
                self.defined.insert(name.clone());
            } else {
                self.error(
                    &path.key("capture").key(name),
                    format!("invalid variable name {name:?}: use letters, digits, \"_\" and \"-\""),
                );
            }
        }
    }

    fn name_or_labels(
        &mut self,
        path: &FieldPath,
        name: Option<&str>,
        labels: Option<&std::collections::BTreeMap<String, String>>,
    ) {
        match (name, labels) {
            (Some(name), None) => self.template(&path.key("name"), name),
            (None, Some(labels)) => {
                for (key, value) in labels {
                    self.template(&path.key("labels").key(key), value);
                }
            }
            _ => self.error(path, "needs exactly one of \"name\" or \"labels\""),
        }
    }

    /// Checks the `${...}` references in one scenario string.
    fn template(&mut self, path: &FieldPath, text: &str) {
        if let Some(message) = self.template_problem(text) {
            self.error(path, message);
        }
    }

    /// What is wrong with the `${...}` references in `text`, if anything.
    fn template_problem(&self, text: &str) -> Option<String> {
        match template::references(text) {
            Err(err) => Some(err.to_string()),
            Ok(references) => references
                .into_iter()
                .find_map(|reference| match reference {
                    Reference::Var(name) if !self.defined.contains(&name) => {
                        let defined: Vec<String> = self.defined.iter().cloned().collect();
                        let hint = yaml::closest(&name, &defined)
                            .map(|s| format!(" (did you mean \"{s}\"?)"))
                            .unwrap_or_default();
                        Some(format!(
                            "{}{hint}",
                            template::TemplateError::Undefined(name)
                        ))
                    }
                    Reference::Infra(name) if self.infra.is_none() => {
                        Some(template::TemplateError::NoInfra(name.to_owned()).to_string())
                    }
                    _ => None,
                }),
        }
    }

    fn templates_in_value(&mut self, path: &FieldPath, value: &Value) {
        let mut found = Vec::new();
        template::each_string(value, path, &mut |path, text| {
            found.push((path.clone(), text.to_owned()))
        });
        for (path, text) in found {
            self.template(&path, &text);
        }
    }

    /// Resolves `resource` / `resources` / `file` into manifests.
    fn manifests(
        &mut self,
        path: &FieldPath,
        resource: &Option<Value>,
        resources: &Option<Vec<Value>>,
        file: &Option<String>,
        usage: ManifestUse,
    ) -> Vec<Manifest> {
        let inline_origin = |path: FieldPath| Origin {
            file: self.file.to_path_buf(),
            document: 0,
            path,
        };
        let manifests: Vec<Manifest> = match (resource, resources, file) {
            (Some(value), None, None) => vec![Manifest {
                value: value.clone(),
                origin: inline_origin(path.key("resource")),
            }],
            (None, Some(values), None) => {
                if values.is_empty() {
                    self.error(&path.key("resources"), "\"resources\" is empty");
                }
                values
                    .iter()
                    .enumerate()
                    .map(|(index, value)| Manifest {
                        value: value.clone(),
                        origin: inline_origin(path.key("resources").index(index)),
                    })
                    .collect()
            }
            (None, None, Some(file)) => match self.read_manifest_file(&path.key("file"), file) {
                Some(manifests) => manifests,
                None => return Vec::new(),
            },
            _ => {
                self.error(
                    path,
                    "needs exactly one of \"resource\", \"resources\" or \"file\"",
                );
                return Vec::new();
            }
        };
        for manifest in &manifests {
            self.manifest(manifest, usage);
        }
        manifests
    }

    fn read_manifest_file(&mut self, path: &FieldPath, file: &str) -> Option<Vec<Manifest>> {
        let resolved = normalize(&self.dir.join(file));
        let text = match std::fs::read_to_string(&resolved) {
            Ok(text) => text,
            Err(err) => {
                let reason = if err.kind() == std::io::ErrorKind::NotFound {
                    "no such file".to_owned()
                } else {
                    err.to_string()
                };
                self.error(
                    path,
                    format!("cannot read {}: {reason}", resolved.display()),
                );
                return None;
            }
        };
        match yaml::documents(&text) {
            Ok(documents) if documents.is_empty() => {
                self.error(path, format!("{} holds no objects", resolved.display()));
                None
            }
            Ok(documents) => Some(
                documents
                    .into_iter()
                    .map(|(document, value)| Manifest {
                        value,
                        origin: Origin {
                            file: resolved.clone(),
                            document,
                            path: FieldPath::root(),
                        },
                    })
                    .collect(),
            ),
            Err(err) => {
                self.diagnostics.push(Diagnostic {
                    file: resolved,
                    location: err.location,
                    path: err.path,
                    message: err.message,
                });
                None
            }
        }
    }

    /// Checks one object: shape, identity fields and `${...}` references.
    fn manifest(&mut self, manifest: &Manifest, usage: ManifestUse) {
        let origin = &manifest.origin;
        let mut problems: Vec<(FieldPath, String)> = Vec::new();
        let Some(object) = manifest.value.as_object() else {
            problems.push((
                origin.path.clone(),
                "expected a Kubernetes object (a map with apiVersion and kind)".to_owned(),
            ));
            self.report_in(origin, problems);
            return;
        };
        for field in ["apiVersion", "kind"] {
            match object.get(field) {
                Some(Value::String(text)) if !text.is_empty() => {}
                Some(_) => problems.push((
                    origin.path.key(field),
                    format!("\"{field}\" must be a non-empty string"),
                )),
                None => problems.push((origin.path.clone(), format!("missing \"{field}\""))),
            }
        }
        let name = object.get("metadata").and_then(|m| m.get("name"));
        match (name, usage) {
            (Some(Value::String(text)), _) if !text.is_empty() => {}
            (Some(_), _) => problems.push((
                origin.path.key("metadata").key("name"),
                "\"metadata.name\" must be a non-empty string".to_owned(),
            )),
            (None, ManifestUse::Write) => problems.push((
                origin.path.clone(),
                "missing \"metadata.name\" (apply creates or updates objects by name)".to_owned(),
            )),
            (None, ManifestUse::Match) => {}
        }
        let mut found = Vec::new();
        template::each_string(&manifest.value, &origin.path, &mut |path, text| {
            found.push((path.clone(), text.to_owned()))
        });
        for (path, text) in found {
            if let Some(message) = self.template_problem(&text) {
                problems.push((path, message));
            }
        }
        self.report_in(origin, problems);
    }

    /// Reports problems found inside a manifest, positioned in its own file.
    fn report_in(&mut self, origin: &Origin, problems: Vec<(FieldPath, String)>) {
        if problems.is_empty() {
            return;
        }
        let external_text = if origin.file.as_path() == self.file {
            None
        } else {
            std::fs::read_to_string(&origin.file).ok()
        };
        for (path, message) in problems {
            let text = external_text.as_deref().unwrap_or(self.text);
            let location = yaml::locate(text, origin.document, &path);
            let path_text = match (
                path.is_root(),
                external_text.is_some() && origin.document > 0,
            ) {
                (true, true) => Some(format!("document {}", origin.document + 1)),
                (true, false) => None,
                (false, true) => Some(format!("document {}: {path}", origin.document + 1)),
                (false, false) => Some(path.to_string()),
            };
            self.diagnostics.push(Diagnostic {
                file: origin.file.clone(),
                location,
                path: path_text,
                message,
            });
        }
    }
}

/// Checks a DNS-1123 label: lowercase alphanumerics and `-`, starting and
/// ending alphanumeric, at most `max` characters.
pub(crate) fn dns_label(name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.len() > max {
        return Err(format!("must be at most {max} characters"));
    }
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let valid_ends = !name.starts_with('-') && !name.ends_with('-');
    if valid_chars && valid_ends {
        Ok(())
    } else {
        Err(
            "use lowercase letters, digits and \"-\", starting and ending with a letter or digit"
                .to_owned(),
        )
    }
}

/// Removes `.` and folds `dir/..` without touching the file system, so paths
/// in messages read `fixtures/x.yaml` rather than `scenarios/../fixtures/x.yaml`.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let can_pop = matches!(out.components().next_back(), Some(Component::Normal(_)));
                if can_pop {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        assert_eq!(
            normalize(Path::new("scenarios/../fixtures/x.yaml")),
            PathBuf::from("fixtures/x.yaml")
        );
        assert_eq!(normalize(Path::new("./a/./b")), PathBuf::from("a/b"));
        assert_eq!(normalize(Path::new("../a")), PathBuf::from("../a"));
        assert_eq!(normalize(Path::new("/x/../y")), PathBuf::from("/y"));
    }

    #[test]
    fn checks_dns_labels() {
        assert!(dns_label("operator-lifecycle", 40).is_ok());
        assert!(dns_label("Operator", 40).is_err());
        assert!(dns_label("-x", 40).is_err());
        assert!(dns_label(&"a".repeat(41), 40).is_err());
        assert!(dns_label("", 40).is_err());
    }
}
