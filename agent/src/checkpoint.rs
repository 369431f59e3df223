//! Checkpoints: the whole training state as one RON file, written atomically (temp file, fsync,
//! rename), so an interrupted write never replaces a good checkpoint with half of one.

use crate::train::TrainState;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the most recent checkpoint in a checkpoint directory.
pub const LATEST: &str = "latest.ron";
/// File name of the best-evaluated checkpoint.
pub const BEST: &str = "best.ron";

/// Writes `contents` to `path` atomically.
pub fn write_atomic(path: &Path, contents: &str) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create directory", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).with_context(|| format!("{}: cannot write", tmp.display()))?;
    file.write_all(contents.as_bytes()).with_context(|| format!("{}: cannot write", tmp.display()))?;
    file.sync_all().with_context(|| format!("{}: cannot sync", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot replace", path.display()))?;
    Ok(())
}

/// Saves `state` as `dir/name`.
pub fn save(state: &TrainState, dir: &Path, name: &str) -> Result<PathBuf> {
    let text = ron::ser::to_string(state).context("cannot serialise the training state")?;
    let path = dir.join(name);
    write_atomic(&path, &text)?;
    Ok(path)
}

/// Loads a checkpoint: a file, or a directory holding [`LATEST`].
pub fn load(path: &Path) -> Result<TrainState> {
    let file = if path.is_dir() { path.join(LATEST) } else { path.to_path_buf() };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("{}: cannot read checkpoint", file.display()))?;
    ron::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: line {}, column {}: not a serflow checkpoint: {}",
            file.display(),
            e.span.start.line,
            e.span.start.col,
            e.code
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_files_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("serflow-ckpt-{}", std::process::id()));
        let path = dir.join("x.ron");
        write_atomic(&path, "first").unwrap();
        write_atomic(&path, "second").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
        assert!(!path.with_extension("tmp").exists());
        std::fs::remove_dir_all(dir).ok();
    }
}
