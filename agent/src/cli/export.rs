//! `serflow export`: a checkpoint's actor and normaliser as the backend-free policy file that
//! `serflow_policies::Learned::load` reads.

use anyhow::{Result, bail};
use clap::Args;
use serflow_agent::checkpoint::{self, BEST, LATEST};
use serflow_agent::export::policy_file;
use serflow_agent::train::TrainState;
use serflow_policies::LearnedPolicyFile;
use std::path::{Path, PathBuf};

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
    export_checkpoint(&args.checkpoint, &args.out)?;
    Ok(())
}

/// Writes the policy of `checkpoint` (a directory: its best.ron, else latest.ron; or a file) to
/// `out`, says so on stderr, and returns it.
pub fn export_checkpoint(checkpoint: &Path, out: &Path) -> Result<LearnedPolicyFile> {
    let path = if checkpoint.is_dir() && checkpoint.join(BEST).exists() {
        checkpoint.join(BEST)
    } else if checkpoint.is_dir() {
        checkpoint.join(LATEST)
    } else {
        checkpoint.to_path_buf()
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
    file.save(out).map_err(anyhow::Error::msg)?;
    eprintln!("wrote {} ({} stages, from {})", out.display(), file.n_stages, path.display());
    Ok(file)
}
