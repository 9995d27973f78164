//! The tidy test: architecture invariants and house rules, checked by `cargo test`.
//!
//! Each check reads the source tree as text, so it costs milliseconds and needs
//! no extra dependencies. A failure names the file and the rule; the fix is in
//! that file, or, if the rule itself changed, here and in `ARCHITECTURE.md`.

use std::{
    fs,
    path::{Path, PathBuf},
};

use crate::process::project_root;

/// Folders whose Rust sources are ours (not generated, not vendored).
const SOURCE_ROOTS: &[&str] = &["harness", "benches", "xtask"];

fn rust_files() -> Vec<PathBuf> {
    let root = project_root();
    let mut files = Vec::new();
    for dir in SOURCE_ROOTS {
        collect(&root.join(dir), "rs", &mut files);
    }
    files.sort();
    files
}

fn collect(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            collect(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(project_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// Every Rust file opens with a `//!` module doc that says what it owns.
#[test]
fn every_module_has_a_doc() {
    let missing: Vec<String> = rust_files()
        .into_iter()
        .filter(|path| !read(path).trim_start().starts_with("//!"))
        .map(|path| relative(&path))
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not start with a `//!` module doc:\n  {}",
        missing.join("\n  ")
    );
}

/// Tests never hide: no `#[should_panic]`, and every ignored test says why.
#[test]
fn ignored_tests_give_a_reason() {
    let mut bad = Vec::new();
    for path in rust_files() {
        for (idx, line) in read(&path).lines().enumerate() {
            let line = line.trim();
            if line.starts_with("#[should_panic") {
                bad.push(format!(
                    "{}:{}: #[should_panic] (assert the error instead)",
                    relative(&path),
                    idx + 1
                ));
            }
            if line.starts_with("#[ignore") && !line.starts_with("#[ignore = \"needs ") {
                bad.push(format!(
                    "{}:{}: #[ignore] without `= \"needs <what> (<why>)\"`",
                    relative(&path),
                    idx + 1
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "test attribute rules broken:\n  {}",
        bad.join("\n  ")
    );
}

/// The code is in rustfmt's default style, so a diff shows changes, not
/// reflowed lines. Skipped, saying so, where the toolchain has no rustfmt
/// (`rustup component add rustfmt` adds it).
#[test]
fn the_code_is_rustfmt_formatted() {
    if !crate::process::succeeds(crate::process::cargo().args(["fmt", "--version"])) {
        eprintln!("skipped: this toolchain has no rustfmt (rustup component add rustfmt)");
        return;
    }
    let output = crate::process::cargo()
        .args(["fmt", "--all", "--check"])
        .output()
        .expect("cargo fmt --check starts");
    assert!(
        output.status.success(),
        "`cargo fmt --all --check` found unformatted code; run `cargo fmt --all`:\n{}",
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.starts_with("Diff in"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Dependencies are declared once, in the workspace, with their versions.
#[test]
fn member_crates_take_versions_from_the_workspace() {
    let root = project_root();
    let mut bad = Vec::new();
    for manifest in [
        "harness",
        "harness/sim",
        "harness/pipeline",
        "harness/infra",
        "benches",
        "xtask",
    ] {
        let path = root.join(manifest).join("Cargo.toml");
        let mut in_deps = false;
        for line in read(&path).lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_deps = line.ends_with("dependencies]");
                continue;
            }
            if in_deps
                && !line.is_empty()
                && !line.starts_with('#')
                && !line.contains("workspace = true")
            {
                bad.push(format!("{}: `{line}`", relative(&path)));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "declare these in the root [workspace.dependencies]:\n  {}",
        bad.join("\n  ")
    );
}

fn dependencies(manifest: &str) -> Vec<String> {
    let text = read(&project_root().join(manifest).join("Cargo.toml"));
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps
            && let Some((name, _)) = line.split_once(['=', '.'])
            && !name.trim().is_empty()
            && !name.starts_with('#')
        {
            deps.push(name.trim().to_string());
        }
    }
    deps
}

/// Architecture invariant: the pipeline core has no I/O dependencies, and the
/// simulator does not know the Kubernetes client or the pipeline's infrastructure.
#[test]
fn crate_boundaries_hold() {
    let core = dependencies("harness/pipeline");
    let io = [
        "tokio",
        "rdkafka",
        "redis",
        "hyper",
        "kube",
        "testcontainers",
        "futures",
    ];
    let leaks: Vec<&String> = core.iter().filter(|d| io.contains(&d.as_str())).collect();
    assert!(
        leaks.is_empty(),
        "harness-pipeline must stay pure, but depends on {leaks:?}"
    );
    let sim = dependencies("harness/sim");
    let foreign = [
        "kube",
        "k8s-openapi",
        "rdkafka",
        "redis",
        "testcontainers",
        "harness-pipeline",
        "harness-infra",
    ];
    let leaks: Vec<&String> = sim
        .iter()
        .filter(|d| foreign.contains(&d.as_str()))
        .collect();
    assert!(leaks.is_empty(), "harness-sim must not depend on {leaks:?}");
}

/// Architecture invariant: the pure cores never read the wall clock, sleep,
/// spawn or do I/O; only the simulator's HTTP edge and its clock may.
#[test]
fn pure_cores_stay_pure() {
    let root = project_root();
    let forbidden = [
        "Instant::now",
        "SystemTime::now",
        "thread::spawn",
        "thread::sleep",
        "tokio::",
        "std::fs",
        "std::net",
    ];
    let mut bad = Vec::new();
    let mut check = |dir: &str, allowed: &[&str]| {
        let mut files = Vec::new();
        collect(&root.join(dir), "rs", &mut files);
        for path in files {
            let rel = relative(&path);
            if allowed.iter().any(|a| rel.starts_with(a)) {
                continue;
            }
            let text = read(&path);
            // Unit tests at the bottom of a file may use std freely.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for word in forbidden {
                if code.contains(word) {
                    bad.push(format!("{rel}: uses `{word}`"));
                }
            }
        }
    };
    check("harness/pipeline/src", &[]);
    check(
        "harness/sim/src",
        &[
            "harness/sim/src/api",
            "harness/sim/src/clock.rs",
            "harness/sim/src/kubeconfig.rs",
        ],
    );
    assert!(
        bad.is_empty(),
        "pure core rules broken:\n  {}",
        bad.join("\n  ")
    );
}

/// `ARCHITECTURE.md` names every crate and every top-level module folder, so
/// the map stays true as the code grows.
/// The `harness` binary prints to stdout through `console::outln!`, never
/// `println!`, which panics when the reader closed the pipe
/// (`harness verify | head`). Tests and benches may print as they like.
#[test]
fn the_harness_library_prints_through_the_console_module() {
    let root = project_root().join("harness/src");
    let mut offenders = Vec::new();
    for file in rust_files().iter().filter(|f| f.starts_with(&root)) {
        for (number, line) in read(file).lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if ["println!(", "print!("].iter().any(|m| {
                code.match_indices(m)
                    .any(|(at, _)| !code[..at].ends_with('e'))
            }) {
                offenders.push(format!("{}:{}: {code}", relative(file), number + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "use crate::console::{{out, outln}} instead:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn architecture_map_covers_the_code() {
    let root = project_root();
    let map = read(&root.join("ARCHITECTURE.md"));
    let mut missing = Vec::new();
    for src in [
        "harness/src",
        "harness/sim/src",
        "harness/pipeline/src",
        "harness/infra/src",
        "benches",
        "xtask/src",
    ] {
        let Ok(entries) = fs::read_dir(root.join(src)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if ["lib", "main", "mod"].contains(&name.as_str()) {
                continue;
            }
            let file_name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            // benches/ and xtask/src/ are listed by their Rust files only.
            let rust_or_folder = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
            if !rust_or_folder {
                continue;
            }
            let shown = format!("{src}/{file_name}");
            let shown = if path.is_dir() {
                format!("{shown}/")
            } else {
                shown
            };
            if !map.contains(&shown) && !map.contains(&format!("`{file_name}`")) {
                missing.push(shown);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not mention:\n  {}",
        missing.join("\n  ")
    );
}

/// Every repository path `ARCHITECTURE.md` names in backticks exists, so the
/// map cannot keep pointing at code that moved or went away.
#[test]
fn architecture_map_names_only_real_paths() {
    let root = project_root();
    let map = read(&root.join("ARCHITECTURE.md"));
    let top_folders = [
        "harness/",
        "benches/",
        "xtask/",
        "fixtures/",
        "scenarios/",
        "ci/",
        ".ci/",
    ];
    let stale: Vec<&str> = map
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|quoted| top_folders.iter().any(|top| quoted.starts_with(top)))
        .filter(|path| !path.contains(['*', ' ', '<']))
        .filter(|path| !root.join(path).exists())
        .collect();
    assert!(
        stale.is_empty(),
        "ARCHITECTURE.md names paths that do not exist:\n  {}",
        stale.join("\n  ")
    );
}
