//! Training curves in TensorBoard, under CleanRL's tag names (`charts/*`, `losses/*`), with domain
//! metrics under `env/` and deterministic evaluations under `eval/`. Every scalar is also kept in
//! memory, so tests can compare two runs' curves exactly.

use crate::error::{Error, Result};
use std::path::Path;
use tensorboard_rs::summary_writer::SummaryWriter;

/// One logged point.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The tag, e.g. `losses/value_loss`.
    pub tag: String,
    /// The global step.
    pub step: u64,
    /// The value.
    pub value: f64,
}

/// A run's scalar log.
pub struct RunLog {
    writer: Option<SummaryWriter>,
    /// Everything logged so far by this process.
    pub points: Vec<Point>,
}

impl RunLog {
    /// Logs to TensorBoard event files in `dir` (created if needed).
    pub fn tensorboard(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "cannot create the log directory", e))?;
        let probe = dir.join(".serflow-write-test");
        std::fs::write(&probe, b"").map_err(|e| Error::io(dir, "log directory is not writable", e))?;
        std::fs::remove_file(&probe).ok();
        Ok(Self { writer: Some(SummaryWriter::new(dir)), points: Vec::new() })
    }

    /// Keeps points in memory only.
    pub fn in_memory() -> Self {
        Self { writer: None, points: Vec::new() }
    }

    /// Records `value` under `tag` at `step`.
    pub fn scalar(&mut self, tag: &str, value: f64, step: u64) {
        if let Some(w) = &mut self.writer {
            w.add_scalar(tag, value as f32, step as usize);
        }
        self.points.push(Point { tag: tag.to_string(), step, value });
    }

    /// Pushes buffered events to disk.
    pub fn flush(&mut self) {
        if let Some(w) = &mut self.writer {
            w.flush();
        }
    }
}
