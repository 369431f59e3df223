//! Calibrated baselines as a file: what `serflow tune` found for one scenario on training seeds,
//! so `static-best`, `tuned-hpa`, `predictive-hpa` and `serflow-tuned` run by name with no tuning at
//! run time (and a controller can load the same file). Each entry is the calibrated rule, or the
//! plain baseline the search fell back to when no setting of the rule was cheaper at the target.

use crate::baselines::{HpaConfig, SerflowConfig, StaticStage};
use serde::{Deserialize, Serialize};

/// A calibrated rule, or the baseline it fell back to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Calibrated<T> {
    /// The rule with these parameters.
    Rule(T),
    /// Every request to FaaS was cheaper at the target.
    FaasOnly,
    /// `vm-only` was cheaper at the target.
    VmOnly,
}

impl<T> Calibrated<T> {
    /// `rule`, or the baseline fallen back to.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Rule(_) => "rule",
            Self::FaasOnly => "faas-only",
            Self::VmOnly => "vm-only",
        }
    }
}

/// How a calibrated entry did on the training seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Fit")]
pub struct Fit {
    /// Mean cost per episode, dollars.
    pub cost: f64,
    /// Mean SLO attainment.
    pub attainment: f64,
    /// Settings simulated to find it.
    pub evaluated: u32,
}

/// The calibration file of one scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Calibration")]
pub struct Calibration {
    /// The scenario's name.
    pub scenario: String,
    /// Its stage count (checked on load).
    pub n_stages: usize,
    /// Training seeds searched on: `first..first + count`.
    pub seeds: (u64, u64),
    /// Attainment every choice had to reach on those seeds (the target plus a margin).
    pub required_attainment: f64,
    /// The cheapest fixed allocation.
    pub static_best: (Calibrated<Vec<StaticStage>>, Fit),
    /// Target tracking with FaaS overflow.
    pub tuned_hpa: (Calibrated<HpaConfig>, Fit),
    /// The same on a trend forecast about one VM boot ahead.
    pub predictive_hpa: (Calibrated<HpaConfig>, Fit),
    /// The SERFLOW heuristic, transfer-aware, calibrated.
    pub serflow_tuned: (Calibrated<SerflowConfig>, Fit),
}

impl Calibration {
    /// Parses a calibration file's text; the error says where in the text and why (a file without
    /// a baseline added since it was written says to calibrate again).
    pub fn parse(text: &str) -> Result<Self, String> {
        ron::from_str(text).map_err(|e| {
            let hint = match e.code {
                ron::Error::MissingStructField { .. } => {
                    " (written by an older serflow: run `serflow tune` again)"
                }
                _ => "",
            };
            format!("line {}, column {}: {}{hint}", e.span.start.line, e.span.start.col, e.code)
        })
    }

    /// The file's text.
    pub fn to_ron(&self) -> String {
        let pretty = ron::ser::PrettyConfig::new().struct_names(true);
        ron::ser::to_string_pretty(self, pretty).expect("a calibration serialises")
    }
}
