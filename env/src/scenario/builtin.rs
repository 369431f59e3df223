//! Built-in scenarios (embedded in the binary) and where their traces are found: the one place that
//! turns a `--scenario` argument into a configuration and the directory its relative paths use.

use super::ScenarioConfig;
use crate::error::ScenarioError;
use serflow_policies::files::directory_of;
use std::path::{Path, PathBuf};

/// Built-in scenarios, embedded at compile time: `(name, RON text)`.
pub const BUILTINS: [(&str, &str); 3] = [
    ("default", include_str!("../scenarios/default.ron")),
    ("production", include_str!("../scenarios/production.ron")),
    ("libra-wits", include_str!("../scenarios/libra-wits.ron")),
];

/// The environment variable naming a directory that holds the traces built-in scenarios replay
/// (searched before the repository's own directories).
pub const TRACES_ENV: &str = "SERFLOW_TRACES";

/// Directories searched, in order, for a trace a built-in scenario names: `$SERFLOW_TRACES` when set,
/// the repository's `traces/` (traces shipped with serflow), and `../shared/traces/` beside the
/// repository. The repository is the one this binary was built from, so the working directory
/// does not matter.
pub fn trace_dirs() -> Vec<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."));
    let from_env = std::env::var_os(TRACES_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    from_env.into_iter().chain([workspace.join("traces"), workspace.join("../shared/traces")]).collect()
}

/// The directory a built-in's traces resolve against: the first of `dirs` holding all of them (the
/// first of them when none does, so the error names where it was looked for first).
fn builtin_trace_dir(config: &ScenarioConfig, dirs: &[PathBuf]) -> PathBuf {
    let paths = config.workload.trace_paths();
    let found = dirs.iter().find(|d| !paths.is_empty() && paths.iter().all(|p| d.join(p).is_file()));
    found.unwrap_or(&dirs[0]).clone()
}

/// The traces the built-in scenario `name` replays that are missing from the directory it would
/// read them from (every trace must sit in one of [`trace_dirs`]): empty when it can run. Lets a
/// command skip a scenario whose traces serflow cannot ship, saying which and why, before it starts.
pub fn missing_traces(name: &str) -> Result<Vec<String>, ScenarioError> {
    missing_traces_in(name, &trace_dirs())
}

fn missing_traces_in(name: &str, dirs: &[PathBuf]) -> Result<Vec<String>, ScenarioError> {
    let (config, _, _) = load_config(name)?;
    let base = builtin_trace_dir(&config, dirs);
    let paths = config.workload.trace_paths();
    Ok(paths.into_iter().filter(|p| !base.join(p).is_file()).map(str::to_string).collect())
}

/// Reads a built-in scenario by name, or a RON file by path (anything containing `/` or ending
/// `.ron`), without validating it: returns the configuration, its source label and the directory
/// relative trace paths resolve against (the scenario file's, or for a built-in the trace directory
/// of [`trace_dirs`] that holds its trace). Callers may override fields, then call
/// [`super::Scenario::from_config`].
pub fn load_config(name_or_path: &str) -> Result<(ScenarioConfig, String, PathBuf), ScenarioError> {
    if let Some((name, text)) = BUILTINS.iter().find(|(n, _)| *n == name_or_path) {
        let source = format!("builtin:{name}");
        let config = parse(&source, text)?;
        let base = builtin_trace_dir(&config, &trace_dirs());
        return Ok((config, source, base));
    }
    if !crate::names_a_file(name_or_path) {
        let names: Vec<&str> = BUILTINS.iter().map(|(n, _)| *n).collect();
        return Err(ScenarioError::new(
            "argument",
            "--scenario",
            format!(
                "unknown scenario `{name_or_path}`: use a built-in ({}) or a .ron file",
                names.join(", ")
            ),
        ));
    }
    let path = Path::new(name_or_path);
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::new(&source, "", format!("cannot read: {e}")))?;
    // Relative trace paths resolve against the file's directory ("." for a bare name: an empty
    // path names no directory, and `std::path::absolute` refuses it).
    Ok((parse(&source, &text)?, source, directory_of(path).to_path_buf()))
}

/// Parses RON into a configuration, turning serde's message into a one-line error with a position.
pub fn parse(source: &str, text: &str) -> Result<ScenarioConfig, ScenarioError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    ron::from_str(text).map_err(|e| {
        ScenarioError::new(
            source,
            format!("line {}, column {}", e.span.start.line, e.span.start.col),
            e.code.to_string(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_file_name_resolves_traces_against_the_working_directory() {
        assert_eq!(directory_of(Path::new("mine.ron")), Path::new("."));
        assert!(std::path::absolute(directory_of(Path::new("mine.ron"))).is_ok());
        assert_eq!(directory_of(Path::new("configs/mine.ron")), Path::new("configs"));
        assert_eq!(directory_of(Path::new("/srv/mine.ron")), Path::new("/srv"));
    }

    #[test]
    fn missing_traces_are_named_until_one_directory_holds_them_all() {
        let dir = std::env::temp_dir().join(format!("serflow-missing-traces-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dirs = [dir.clone()];
        let (config, _, _) = load_config("production").unwrap();
        let wanted: Vec<String> = config.workload.trace_paths().into_iter().map(str::to_string).collect();
        assert!(wanted.len() >= 2, "production replays several traces: {wanted:?}");
        assert_eq!(missing_traces_in("production", &dirs).unwrap(), wanted);
        std::fs::write(dir.join(&wanted[0]), "1\n").unwrap();
        assert_eq!(missing_traces_in("production", &dirs).unwrap(), wanted[1..]);
        for name in &wanted[1..] {
            std::fs::write(dir.join(name), "1\n").unwrap();
        }
        assert!(missing_traces_in("production", &dirs).unwrap().is_empty());
        assert!(missing_traces_in("default", &dirs).unwrap().is_empty(), "no trace, nothing missing");
        assert!(missing_traces_in("no-such", &dirs).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
