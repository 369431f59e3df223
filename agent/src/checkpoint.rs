//! Checkpoints: a whole training state as one RON file, written atomically ([`write_atomic`]), so an
//! interrupted write never replaces a good checkpoint with half of one.

use crate::error::{Error, Result};
use crate::files::write_atomic;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// File name of the most recent checkpoint in a checkpoint directory.
pub const LATEST: &str = "latest.ron";
/// File name of the best-evaluated checkpoint.
pub const BEST: &str = "best.ron";

/// Saves `state` as `dir/name`.
pub fn save<S: Serialize>(state: &S, dir: &Path, name: &str) -> Result<PathBuf> {
    let text = ron::ser::to_string(state)
        .map_err(|e| Error::new(format!("cannot serialise the training state: {e}")))?;
    let path = dir.join(name);
    write_atomic(&path, &text)?;
    Ok(path)
}

/// Loads a checkpoint: a file, or a directory holding [`LATEST`].
pub fn load<S: DeserializeOwned>(path: &Path) -> Result<S> {
    let file = if path.is_dir() { path.join(LATEST) } else { path.to_path_buf() };
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, "cannot read checkpoint", e))?;
    ron::from_str(&text).map_err(|e| {
        Error::new(format!(
            "{}: line {}, column {}: not a serflow checkpoint: {}",
            file.display(),
            e.span.start.line,
            e.span.start.col,
            e.code
        ))
    })
}
