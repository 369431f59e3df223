//! `serflow tune`: calibrate the rule-based baselines on training seeds and write the file
//! `static-best`, `tuned-hpa`, `predictive-hpa` and `serflow-tuned` load by name.

use super::{ScenarioArgs, progress_bar, seed_range};
use anyhow::Result;
use clap::Args;
use serflow_agent::files::write_atomic;
use serflow_agent::tune::{episodes_per_seed, tune};
use serflow_env::scenario::load_config;
use serflow_env::seeds::parse_first_seed;
use serflow_policies::calibration::Fit;
use serflow_policies::files::check_writable;
use std::path::PathBuf;

/// Whole episodes a calibration sees unless told otherwise: fewer, or shorter, ones fit the rules to
/// the few bursts they happen to hold.
const DEFAULT_SEEDS: u64 = 8;

/// Arguments of `serflow tune`.
#[derive(Args, Debug)]
pub struct TuneArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Training seeds to calibrate on (FIRST..FIRST+N).
    #[arg(long, default_value_t = DEFAULT_SEEDS)]
    seeds: u64,
    /// The first seed, or a range name (train, selection, heldout). Calibrate on `train` only.
    #[arg(long, default_value = "train", value_parser = parse_first_seed)]
    first_seed: u64,
    /// Where to write the calibration (default: checkpoints/<scenario>/baselines.ron).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: TuneArgs) -> Result<()> {
    let seeds = seed_range(args.first_seed, args.seeds, "--seeds")?;
    let scenario = args.scenario.load()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("checkpoints").join(&scenario.config.name).join("baselines.ron"));
    // Refuse an unwritable --out now, not after the calibration's minutes.
    check_writable(&out).map_err(anyhow::Error::msg)?;
    let bar = progress_bar("{msg} [{bar:30}] {pos}/{len} episodes ({per_sec}, eta {eta})");
    bar.set_length(episodes_per_seed() * seeds.len() as u64);
    bar.set_message(format!("tune {}", scenario.config.name));
    let calibration = tune(&scenario, &seeds, &|| bar.inc(1));
    bar.finish_and_clear();
    let header = format!(
        "// serflow tune {} --seeds {} --first-seed {}: calibrated on training seeds only\n",
        args.scenario.flags(),
        args.seeds,
        args.first_seed
    );
    write_atomic(&out, &(header + &calibration.to_ron() + "\n"))?;
    println!(
        "calibrated on seeds {}..={} of {} (each choice at >= {:.3} % attainment there):",
        seeds[0],
        seeds[seeds.len() - 1],
        scenario.config.name,
        calibration.required_attainment * 100.0
    );
    let line = |name: &str, kind: &str, fit: &Fit| {
        println!(
            "  {name:<14} {kind:<10} ${:.4} at {:.3} % ({} settings simulated)",
            fit.cost,
            fit.attainment * 100.0,
            fit.evaluated
        );
    };
    line("static-best", calibration.static_best.0.label(), &calibration.static_best.1);
    line("tuned-hpa", calibration.tuned_hpa.0.label(), &calibration.tuned_hpa.1);
    line("predictive-hpa", calibration.predictive_hpa.0.label(), &calibration.predictive_hpa.1);
    line("serflow-tuned", calibration.serflow_tuned.0.label(), &calibration.serflow_tuned.1);
    println!("wrote {}", out.display());
    let configured = load_config(&args.scenario.scenario)?.0.horizon_s;
    if args.seeds < DEFAULT_SEEDS || scenario.config.horizon_s < configured {
        eprintln!(
            "note: calibrated on {} episode(s) of {} s, less than the default {DEFAULT_SEEDS} of {configured} s: \
             rules fitted to little data can miss the target on seeds they never saw; check with \
             `serflow compare {} --calibration {} --first-seed heldout`",
            args.seeds,
            scenario.config.horizon_s,
            args.scenario.flags(),
            out.display()
        );
    }
    Ok(())
}
