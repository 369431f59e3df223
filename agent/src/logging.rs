//! Training curves in TensorBoard, under CleanRL's tag names (`charts/*`, `losses/*`), with domain
//! metrics under `env/` and deterministic evaluations under `eval/`. Every scalar is also kept in
//! memory, so tests can compare two runs' curves exactly.

use anyhow::{Context, Result};
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
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the log directory", dir.display()))?;
        let probe = dir.join(".serflow-write-test");
        std::fs::write(&probe, b"")
            .with_context(|| format!("{}: log directory is not writable", dir.display()))?;
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

/// A progress bar on stderr drawn with `template` (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64, template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}
