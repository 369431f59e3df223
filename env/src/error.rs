//! The one error type for bad input: it names the file (or built-in), the field and the reason, so a
//! user can fix a scenario or a trace from a single line.

use std::fmt;

/// A scenario, trace or argument that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file path, or `builtin:<name>`, or `argument`.
    pub source: String,
    /// Where in it: a field path (`stages[2].exit_probability`), a line (`line 17`), or empty.
    pub field: String,
    /// Why it is rejected.
    pub reason: String,
}

impl ScenarioError {
    /// A new error.
    pub fn new(source: impl Into<String>, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { source: source.into(), field: field.into(), reason: reason.into() }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.source, self.reason)
        } else {
            write!(f, "{}: {}: {}", self.source, self.field, self.reason)
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Checks values of one input and turns the first failure into a [`ScenarioError`].
pub(crate) struct Checker<'a> {
    pub source: &'a str,
}

impl Checker<'_> {
    pub fn error(&self, field: impl Into<String>, reason: impl Into<String>) -> ScenarioError {
        ScenarioError::new(self.source, field, reason)
    }

    pub fn ensure(
        &self,
        ok: bool,
        field: &str,
        reason: impl FnOnce() -> String,
    ) -> Result<(), ScenarioError> {
        if ok { Ok(()) } else { Err(self.error(field, reason())) }
    }

    pub fn finite(&self, field: &str, v: f64) -> Result<(), ScenarioError> {
        self.ensure(v.is_finite(), field, || format!("must be a finite number, got {v}"))
    }

    pub fn positive(&self, field: &str, v: f64) -> Result<(), ScenarioError> {
        self.finite(field, v)?;
        self.ensure(v > 0.0, field, || format!("must be > 0, got {v}"))
    }

    pub fn non_negative(&self, field: &str, v: f64) -> Result<(), ScenarioError> {
        self.finite(field, v)?;
        self.ensure(v >= 0.0, field, || format!("must be >= 0, got {v}"))
    }

    pub fn fraction(&self, field: &str, v: f64) -> Result<(), ScenarioError> {
        self.finite(field, v)?;
        self.ensure((0.0..=1.0).contains(&v), field, || format!("must be within [0, 1], got {v}"))
    }
}
