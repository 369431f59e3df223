//! The Python package's own tests (`env/python/tests`, pytest), run by `cargo test` so that the one
//! test command covers both languages on a fresh machine: a virtual environment in
//! `target/python/venv` gets the test requirements from the package registry
//! (`env/python/requirements-test.txt`), maturin builds the abi3 wheel (release, in its own target
//! directory `target/python`, so this test never waits on the build lock of the `cargo test` running
//! it), pip installs it, and pytest runs. `SERFLOW_PYTHON` picks the interpreter (default `python3`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(program: &Path, args: &[&str], envs: &[(&str, &Path)]) {
    let mut command = Command::new(program);
    command.args(args);
    for (key, value) in envs {
        command.env(key, value);
    }
    let status = command.status().unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(status.success(), "{} {} failed: {status}", program.display(), args.join(" "));
}

#[test]
fn python_package_tests_pass() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target/python");
    let venv = target.join("venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        let interpreter = std::env::var_os("SERFLOW_PYTHON").unwrap_or_else(|| "python3".into());
        run(Path::new(&interpreter), &["-m", "venv", venv.to_str().unwrap()], &[]);
    }
    let requirements = root.join("env/python/requirements-test.txt");
    let pip = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"];
    run(&python, &[&pip[..], &["-r", requirements.to_str().unwrap()]].concat(), &[]);

    let wheels = target.join("wheels");
    std::fs::remove_dir_all(&wheels).ok(); // only the wheel built now
    let manifest = root.join("env/python/Cargo.toml");
    let build =
        ["build", "--release", "--quiet", "-m", manifest.to_str().unwrap(), "-o", wheels.to_str().unwrap()];
    run(&venv.join("bin/maturin"), &build, &[("CARGO_TARGET_DIR", &target)]);
    let wheel = std::fs::read_dir(&wheels)
        .expect("maturin wrote the wheels directory")
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|e| e == "whl"))
        .expect("maturin built a wheel");
    let install = ["--force-reinstall", "--no-deps", wheel.to_str().unwrap()];
    run(&python, &[&pip[..], &install].concat(), &[]);

    let tests = root.join("env/python/tests");
    run(&python, &["-m", "pytest", "-q", "-p", "no:cacheprovider", tests.to_str().unwrap()], &[]);
}
