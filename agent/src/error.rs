//! The library's error: one line that names the file or field and the reason, which the command line
//! prints as it is. (The `serflow` binary wraps it in its own error handling; the library does not
//! depend on a command-line crate.)

use serflow_env::ScenarioError;
use std::fmt;

/// Something a user can fix: a bad config, checkpoint or file, or a run that cannot go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with this one-line message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// The error of an I/O operation on `path`: `PATH: WHAT: CAUSE`.
    pub fn io(path: &std::path::Path, what: &str, cause: std::io::Error) -> Self {
        Self(format!("{}: {what}: {cause}", path.display()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<ScenarioError> for Error {
    fn from(e: ScenarioError) -> Self {
        Self(e.to_string())
    }
}

/// The library's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
