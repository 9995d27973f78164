//! The scenario file format: model, parsing with source locations, and
//! validation that runs before any step does.
//!
//! A scenario is one YAML file (`apiVersion: harness.flink.dev/v1alpha1`,
//! `kind: Scenario`). [`load_all`] reads and validates every file of a run
//! first and returns all problems at once, each as
//! `file:line:column: field.path: message`; nothing reaches a cluster unless
//! every file is valid.
//!
//! - [`model`]: the document, metadata, spec and timeouts.
//! - [`step`], [`verbs`] and [`pipeline_verbs`]: steps and what each verb takes.
//! - [`duration`], [`jsonpath`], [`template`]: the small languages inside.
//! - [`yaml`]: the only place that touches the YAML library.
//! - `validate`: cross-field and file-system checks.

use std::{
    fmt,
    path::{Path, PathBuf},
};

pub mod duration;
pub mod jsonpath;
pub mod model;
pub mod path;
pub mod pipeline_verbs;
pub mod step;
pub mod template;
mod validate;
pub mod verbs;
pub mod yaml;

pub use duration::Duration;
pub use model::{Metadata, Scenario, Spec, TimeoutKind, Timeouts};
pub use path::FieldPath;
pub use step::{Action, Block, Step};

/// One problem in a scenario file (or in a manifest it references).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as the user named it (or relative to the scenario's file).
    pub file: PathBuf,
    /// The position, when known.
    pub location: Option<yaml::Location>,
    /// The field path, e.g. `spec.steps[2].assert`.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(location) = self.location {
            write!(f, ":{location}")?;
        }
        if let Some(path) = &self.path {
            write!(f, ": {path}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Errors loading scenarios.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Expanding the command-line paths found no scenario files.
    #[error("no scenario files (*.yaml) found in {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NoScenarios {
        /// The paths searched.
        paths: Vec<PathBuf>,
    },
    /// A path on the command line does not exist or cannot be listed.
    #[error("cannot read {}", path.display())]
    ReadPath {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// One or more files are invalid; nothing was run.
    #[error("{} problem{} in scenario files; nothing was run:\n{}", diagnostics.len(), if diagnostics.len() == 1 { "" } else { "s" }, diagnostics.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Every problem found, in file order.
        diagnostics: Vec<Diagnostic>,
    },
}

/// The scenario files named by `paths`: files as given, directories expanded
/// to their `*.yaml`/`*.yml` files (not recursively), sorted, deduplicated.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|source| LoadError::ReadPath {
            path: path.clone(),
            source,
        })?;
        if metadata.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| LoadError::ReadPath {
                path: path.clone(),
                source,
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                })
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|file| seen.insert(file.clone()));
    if files.is_empty() {
        return Err(LoadError::NoScenarios {
            paths: paths.to_vec(),
        });
    }
    Ok(files)
}

/// Reads, parses and validates every file; all problems are reported
/// together, including scenario names used twice.
pub fn load_all(files: &[PathBuf]) -> Result<Vec<Scenario>, LoadError> {
    let mut scenarios = Vec::new();
    let mut diagnostics = Vec::new();
    for file in files {
        let result = match std::fs::read_to_string(file) {
            Ok(text) => load_str(file, &text),
            Err(err) => Err(vec![Diagnostic {
                file: file.clone(),
                location: None,
                path: None,
                message: format!("cannot read: {err}"),
            }]),
        };
        match result {
            Ok(scenario) => scenarios.push(scenario),
            Err(found) => diagnostics.extend(found),
        }
    }
    let mut names: std::collections::BTreeMap<&str, &Path> = std::collections::BTreeMap::new();
    for scenario in &scenarios {
        if let Some(first) = names.insert(&scenario.metadata.name, &scenario.file) {
            diagnostics.push(Diagnostic {
                file: scenario.file.clone(),
                location: None,
                path: Some("metadata.name".to_owned()),
                message: format!(
                    "scenario name {:?} is already used by {}",
                    scenario.metadata.name,
                    first.display()
                ),
            });
        }
    }
    if diagnostics.is_empty() {
        Ok(scenarios)
    } else {
        Err(LoadError::Invalid { diagnostics })
    }
}

/// Parses and validates one scenario held in memory; `file` names it in
/// messages and anchors its relative `file:` references.
pub fn load_str(file: &Path, text: &str) -> Result<Scenario, Vec<Diagnostic>> {
    let mut document: model::Document = yaml::from_str(text).map_err(|err| {
        vec![Diagnostic {
            file: file.to_path_buf(),
            location: err.location,
            path: err.path,
            message: err.message,
        }]
    })?;
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let diagnostics = validate::check(file, &dir, text, &mut document);
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    Ok(Scenario {
        file: file.to_path_buf(),
        dir,
        metadata: document.metadata,
        spec: document.spec,
    })
}
