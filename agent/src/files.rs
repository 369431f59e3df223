//! Atomic file writes for the agent (checkpoints, configs, timelines): the policies crate's
//! [`serflow_policies::files::write_atomic`], with the agent's error type.

use crate::error::{Error, Result};
use std::path::Path;

/// Writes `contents` to `path` atomically (creating its directory if needed).
pub fn write_atomic(path: &Path, contents: &str) -> Result<()> {
    serflow_policies::files::write_atomic(path, contents).map_err(Error::new)
}
