//! Golden tests for scenario validation: every file under
//! `tests/data/invalid/` must fail to load with exactly the diagnostics in
//! its `.expected` twin (paths relative to the crate directory).

use std::path::{Path, PathBuf};

use harness::scenario::{self, LoadError};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/invalid")
}

/// Loads one file the way `harness e2e` does, with the path relative to the
/// crate so the expected text does not depend on where the checkout lives.
fn diagnostics_for(name: &str) -> String {
    let relative = PathBuf::from("tests/data/invalid").join(name);
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("crate dir exists");
    match scenario::load_all(&[relative]) {
        Ok(_) => panic!("{name} loaded, but it is invalid"),
        Err(LoadError::Invalid { diagnostics }) => {
            diagnostics.iter().map(|d| format!("{d}\n")).collect()
        }
        Err(other) => panic!("{name}: unexpected error {other}"),
    }
}

#[test]
fn each_invalid_file_fails_with_its_expected_diagnostics() {
    let mut names: Vec<String> = std::fs::read_dir(data_dir())
        .expect("data dir exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 10,
        "expected the golden files, found {names:?}"
    );
    let mut failures = Vec::new();
    for name in &names {
        let actual = diagnostics_for(name);
        let expected_path = data_dir().join(name.replace(".yaml", ".expected"));
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "--- {name}\nexpected:\n{expected}actual:\n{actual}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
