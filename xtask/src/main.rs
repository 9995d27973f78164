//! Project automation: `cargo xtask e2e | test | bench | setup`.

fn main() {
    eprintln!("xtask: not built yet");
    std::process::exit(2);
}
