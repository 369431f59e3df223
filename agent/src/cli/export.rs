//! `serflow export`: a checkpoint's actor and normaliser as the backend-free policy file that
//! `serflow_policies::Learned::load` reads.

use anyhow::{Result, bail};
use clap::Args;
use serflow_agent::checkpoint::{self, BEST, LATEST};
use serflow_agent::export::policy_file;
use serflow_agent::train::TrainState;
use std::path::PathBuf;

/// Arguments of `serflow export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A checkpoint directory (its best.ron, else latest.ron) or a checkpoint file.
    #[arg(long, value_name = "DIR")]
    checkpoint: PathBuf,
    /// Where to write the policy file (RON).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let path = if args.checkpoint.is_dir() && args.checkpoint.join(BEST).exists() {
        args.checkpoint.join(BEST)
    } else if args.checkpoint.is_dir() {
        args.checkpoint.join(LATEST)
    } else {
        args.checkpoint.clone()
    };
    let state: TrainState = checkpoint::load(&path)?;
    let Some(resolved) = &state.scenario else {
        bail!("{}: only policies trained on the serving environment can be exported", path.display());
    };
    let scenario = resolved.load()?;
    let notes = format!(
        "run {}, scenario {}, {} steps, seed {}, exported from {}",
        state.run_name,
        state.config.scenario,
        state.global_step,
        state.config.seed,
        path.display()
    );
    let action_set = serflow_agent::task::action_set(&scenario, &state.config)?;
    let file = policy_file(&state.nets, &state.obs_norm, &scenario, &action_set, notes);
    file.save(&args.out).map_err(anyhow::Error::msg)?;
    eprintln!("wrote {} ({} stages, from {})", args.out.display(), file.n_stages, path.display());
    Ok(())
}
