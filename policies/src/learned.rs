//! A trained policy without its trainer: the exported actor (plain `f32` weights), the observation
//! normaliser it was trained with, and the action mapping, in one versioned RON file.
//!
//! Loading checks every dimension once and returns `Result`, so [`Learned::act`] cannot fail and does
//! not allocate. Acting is deterministic: the argmax of the masked logits of every action dimension.

use crate::mlp::Mlp;
use crate::policy::Policy;
use crate::schema::{
    Action, ActionSet, DecodeMemory, Observation, SCHEMA_VERSION, feature_names, observation_len,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// Version of the policy file layout; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// The most observations a policy file may stack.
pub const MAX_FRAME_STACK: usize = 64;

/// The `frame_stack` of files (and training configs) that do not say: the current observation alone.
pub fn one_frame() -> usize {
    1
}

/// True for the default `frame_stack`, which files leave out (so one-frame files read as before).
pub fn is_one_frame(n: &usize) -> bool {
    *n == 1
}

/// The policy file as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "LearnedPolicy")]
pub struct LearnedPolicyFile {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Observation/action [`SCHEMA_VERSION`] the actor was trained on.
    pub schema_version: u32,
    /// Stages controlled.
    pub n_stages: usize,
    /// The observation's feature names, in order (must match the schema's).
    pub feature_names: Vec<String>,
    /// Per-feature mean subtracted before the actor.
    pub obs_mean: Vec<f32>,
    /// Per-feature standard deviation divided by.
    pub obs_std: Vec<f32>,
    /// Normalised features are clipped to `[-obs_clip, obs_clip]`.
    pub obs_clip: f32,
    /// The discrete choices the actor's logits index.
    pub action_set: ActionSet,
    /// Per-stage VM maxima (masks).
    pub max_vms: Vec<u32>,
    /// The actor: `[frame_stack x features] -> [2 x stages x choices]` logits.
    pub actor: Mlp,
    /// Observations the actor sees at once: the last `frame_stack` decisions' observations, each
    /// normalised, oldest first, zeros before an episode's first (Stable-Baselines3's `VecFrameStack`
    /// over `VecNormalize`). 1, the default and omitted from files, is the current one alone.
    #[serde(default = "one_frame", skip_serializing_if = "is_one_frame")]
    pub frame_stack: usize,
    /// Free-form provenance (scenario, steps, seed, git revision).
    #[serde(default)]
    pub notes: String,
}

impl LearnedPolicyFile {
    /// The file's text, as `serflow export` writes it.
    pub fn to_ron(&self) -> String {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default().depth_limit(3))
            .expect("a policy file serialises")
    }

    /// Checks the file loads as a policy, then writes it to `path` atomically; `Err` is one line
    /// naming the path.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        Learned::new(self.clone()).map_err(|e| format!("{}: the policy is invalid: {e}", path.display()))?;
        crate::files::write_atomic(path, &self.to_ron())
    }
}

/// Why a policy file cannot be used.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

impl std::error::Error for LoadError {}

/// The index of the largest allowed logit in each segment of `nvec`, written to `out`.
pub fn masked_argmax(logits: &[f32], mask: &[bool], nvec: &[usize], out: &mut [usize]) {
    let mut start = 0;
    for (d, &n) in nvec.iter().enumerate() {
        let mut best = 0;
        let mut best_value = f32::NEG_INFINITY;
        for i in 0..n {
            if mask[start + i] && logits[start + i] > best_value {
                best_value = logits[start + i];
                best = i;
            }
        }
        out[d] = best;
        start += n;
    }
}

/// A loaded, validated learned policy with its scratch buffers.
#[derive(Clone, Debug)]
pub struct Learned {
    file: LearnedPolicyFile,
    /// What reports call it: `learned`, or the file it was loaded from.
    name: String,
    nvec: Vec<usize>,
    /// The actor's input: the last `frame_stack` normalised observations, oldest first.
    frames: Vec<f32>,
    scratch: Vec<f32>,
    logits: Vec<f32>,
    mask: Vec<bool>,
    indices: Vec<usize>,
    /// What decoding the action set remembers within an episode.
    memory: DecodeMemory,
}

impl Learned {
    /// Reads and validates a policy file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| LoadError { path: name.clone(), reason: format!("cannot read: {e}") })?;
        Self::parse(&text, &name)
    }

    /// Parses and validates the text of a policy file; `name` is what errors call it.
    pub fn parse(text: &str, name: &str) -> Result<Self, LoadError> {
        let file: LearnedPolicyFile = ron::from_str(text).map_err(|e| LoadError {
            path: name.to_string(),
            reason: format!("line {}, column {}: {}", e.span.start.line, e.span.start.col, e.code),
        })?;
        Self::new(file).map_err(|reason| LoadError { path: name.to_string(), reason })
    }

    /// Validates an in-memory policy file.
    pub fn new(file: LearnedPolicyFile) -> Result<Self, String> {
        if file.format_version != FORMAT_VERSION {
            return Err(format!(
                "format_version {} is not supported (this build reads {FORMAT_VERSION})",
                file.format_version
            ));
        }
        if file.schema_version != SCHEMA_VERSION {
            return Err(format!(
                "schema_version {} does not match this build's {SCHEMA_VERSION}",
                file.schema_version
            ));
        }
        let dim = observation_len(file.n_stages);
        if file.n_stages == 0 {
            return Err("n_stages must be at least 1".into());
        }
        if file.feature_names != feature_names(file.n_stages) {
            return Err(format!("feature_names do not match the {}-stage schema", file.n_stages));
        }
        for (name, v) in [("obs_mean", &file.obs_mean), ("obs_std", &file.obs_std)] {
            if v.len() != dim {
                return Err(format!("{name} has {} values, expected {dim}", v.len()));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(format!("{name} has a non-finite value"));
            }
        }
        if file.obs_std.iter().any(|&s| s <= 0.0) {
            return Err("obs_std must be positive".into());
        }
        if !file.obs_clip.is_finite() || file.obs_clip <= 0.0 {
            return Err(format!("obs_clip must be positive, got {}", file.obs_clip));
        }
        if file.max_vms.len() != file.n_stages {
            return Err(format!("max_vms has {} entries for {} stages", file.max_vms.len(), file.n_stages));
        }
        file.action_set.check(file.n_stages)?;
        file.actor.check().map_err(|e| format!("actor: {e}"))?;
        if !(1..=MAX_FRAME_STACK).contains(&file.frame_stack) {
            return Err(format!("frame_stack must be 1 to {MAX_FRAME_STACK}, got {}", file.frame_stack));
        }
        let nvec = file.action_set.nvec(file.n_stages);
        let n_logits: usize = nvec.iter().sum();
        let inputs = file.frame_stack * dim;
        if file.actor.inputs() != inputs || file.actor.outputs() != n_logits {
            return Err(format!(
                "actor maps {} -> {}, the schema needs {inputs} -> {n_logits} ({} frame(s) of {dim} features)",
                file.actor.inputs(),
                file.actor.outputs(),
                file.frame_stack
            ));
        }
        Ok(Self {
            name: "learned".into(),
            frames: vec![0.0; inputs],
            scratch: vec![0.0; 2 * file.actor.max_width()],
            logits: vec![0.0; n_logits],
            mask: vec![true; n_logits],
            indices: vec![0; nvec.len()],
            memory: DecodeMemory::new(&file.action_set, file.n_stages),
            nvec,
            file,
        })
    }

    /// The same policy reported under `name` (a file's path, so that reports of several files
    /// tell them apart) instead of `learned`.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// The stored file.
    pub fn file(&self) -> &LearnedPolicyFile {
        &self.file
    }

    /// The actor's raw logits for `obs` (before masking), e.g. for parity checks. Each call is one
    /// decision: `obs` becomes the newest stacked frame.
    pub fn logits(&mut self, obs: &Observation) -> &[f32] {
        let f = &self.file;
        let dim = f.obs_mean.len();
        self.frames.copy_within(dim.., 0);
        let newest = self.frames.len() - dim;
        for (i, ((x, m), s)) in obs.values().iter().zip(&f.obs_mean).zip(&f.obs_std).enumerate() {
            self.frames[newest + i] = ((x - m) / s).clamp(-f.obs_clip, f.obs_clip);
        }
        f.actor.forward(&self.frames, &mut self.scratch, &mut self.logits);
        &self.logits
    }

    /// The chosen indices (two per stage) for `obs`: masked argmax. One decision, like [`Self::logits`].
    pub fn choose(&mut self, obs: &Observation) -> &[usize] {
        self.logits(obs);
        self.file.action_set.mask(obs, &self.file.max_vms, &mut self.mask);
        masked_argmax(&self.logits, &self.mask, &self.nvec, &mut self.indices);
        &self.indices
    }
}

impl Policy for Learned {
    fn name(&self) -> &str {
        &self.name
    }

    fn n_stages(&self) -> Option<usize> {
        Some(self.file.n_stages)
    }

    /// Forgets the stacked observations and the decoding memory: the next decision sees zeros
    /// before its own.
    fn reset(&mut self) {
        self.frames.fill(0.0);
        self.memory.clear();
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        self.choose(obs);
        let f = &self.file;
        f.action_set.decode(&self.indices, obs, &f.max_vms, &mut self.memory, action);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::schema::StageFeature;

    /// A 1-stage policy whose actor prefers delta index 3 (+1 VM) and share index 4 (1.0).
    pub(crate) fn tiny() -> LearnedPolicyFile {
        let dim = observation_len(1);
        let mut actor = Mlp::zeros(&[dim, 10]);
        actor.layers[0].biases[3] = 1.0;
        actor.layers[0].biases[9] = 1.0;
        LearnedPolicyFile {
            format_version: FORMAT_VERSION,
            schema_version: SCHEMA_VERSION,
            n_stages: 1,
            feature_names: feature_names(1),
            obs_mean: vec![0.0; dim],
            obs_std: vec![1.0; dim],
            obs_clip: 10.0,
            action_set: ActionSet::default(),
            max_vms: vec![3],
            actor,
            frame_stack: 1,
            notes: String::new(),
        }
    }

    #[test]
    fn acts_by_masked_argmax() {
        let mut p = Learned::new(tiny()).unwrap();
        let mut obs = Observation::zeros(1);
        obs.set_stage(0, StageFeature::VmsReady, 1.0);
        let mut a = Action::faas_only(1);
        p.act(&obs, &mut a);
        assert_eq!((a.stages[0].vm_target, a.stages[0].vm_share), (2, 1.0));
        // At the maximum, +1 is masked: the best allowed delta (index 0, -2, ties broken low) wins.
        obs.set_stage(0, StageFeature::VmsReady, 3.0);
        p.act(&obs, &mut a);
        assert_eq!(a.stages[0].vm_target, 1);
    }

    #[test]
    fn stacked_frames_are_oldest_first_zero_before_the_episode_and_forgotten_on_reset() {
        let dim = observation_len(1);
        let mut file = tiny();
        file.frame_stack = 2;
        file.actor = Mlp::zeros(&[2 * dim, 10]);
        file.actor.layers[0].biases[2] = 0.5; // hold, unless...
        file.actor.layers[0].biases[9] = 1.0;
        // ...the older frame's ready VMs push "+1" above it.
        file.actor.layers[0].weights[StageFeature::VmsReady as usize * 10 + 3] = 1.0;
        let mut p = Learned::new(file).unwrap();
        let mut obs = Observation::zeros(1);
        obs.set_stage(0, StageFeature::VmsReady, 1.0);
        let mut a = Action::faas_only(1);
        let mut targets = vec![];
        for reset in [false, false, true, false] {
            if reset {
                p.reset();
            }
            p.act(&obs, &mut a);
            targets.push(a.stages[0].vm_target);
        }
        assert_eq!(targets, [1, 2, 1, 2]);
    }

    #[test]
    fn reset_forgets_the_decoding_memory_of_a_forecasting_action_set() {
        let mut file = tiny();
        file.action_set =
            ActionSet { vm_need_leads: vec![5.0], ..ActionSet::need_relative(vec![1.0], vec![10.0], 0.0) };
        file.max_vms = vec![1_000];
        file.actor = Mlp::zeros(&[observation_len(1), 7]);
        file.actor.layers[0].biases[1] = 1.0; // the forecast need
        file.actor.layers[0].biases[6] = 1.0; // share 1.0
        let mut p = Learned::new(file).unwrap();
        let episode = |p: &mut Learned| {
            let mut obs = Observation::zeros(1);
            obs.set_global(crate::schema::GlobalFeature::CostRate, 1.0);
            let mut a = Action::faas_only(1);
            [100.0, 200.0, 300.0]
                .map(|rate| {
                    obs.set_stage(0, StageFeature::ArrivalRate, rate);
                    p.act(&obs, &mut a);
                    a.stages[0].vm_target
                })
                .to_vec()
        };
        let first = episode(&mut p);
        assert!(first[2] > 30, "the ramp is forecast: {first:?}");
        p.reset();
        assert_eq!(episode(&mut p), first);
    }

    #[test]
    fn one_frame_is_left_out_of_the_file_and_more_round_trip() {
        assert!(!tiny().to_ron().contains("frame_stack"), "files of one frame read as before");
        let mut f = tiny();
        f.frame_stack = 3;
        f.actor = Mlp::zeros(&[3 * observation_len(1), 10]);
        let back: LearnedPolicyFile = ron::from_str(&f.to_ron()).unwrap();
        assert_eq!(back, f);
        assert!(Learned::new(f).is_ok());
    }

    #[test]
    fn rejects_files_that_do_not_fit_the_schema() {
        let mut f = tiny();
        f.schema_version = 99;
        assert!(Learned::new(f).unwrap_err().contains("schema_version"));
        let mut f = tiny();
        f.format_version = 2;
        assert!(Learned::new(f).unwrap_err().contains("format_version"));
        let mut f = tiny();
        f.max_vms = vec![3, 3];
        assert!(Learned::new(f).unwrap_err().contains("max_vms"));
        let mut f = tiny();
        f.actor.layers[0].weights[5] = f32::NAN;
        assert!(Learned::new(f).unwrap_err().contains("non-finite"));
        let mut f = tiny();
        f.obs_std[0] = 0.0;
        assert!(Learned::new(f).unwrap_err().contains("obs_std"));
        let mut f = tiny();
        f.frame_stack = 2;
        assert!(Learned::new(f).unwrap_err().contains("2 frame(s)"), "the actor must read every frame");
        let mut f = tiny();
        f.frame_stack = 0;
        assert!(Learned::new(f).unwrap_err().contains("frame_stack"));
        let p = Learned::new(tiny()).unwrap();
        assert!(p.check(&Observation::zeros(2)).is_err());
    }

    #[test]
    fn round_trips_through_ron() {
        let f = tiny();
        let text = ron::ser::to_string(&f).unwrap();
        let back: LearnedPolicyFile = ron::from_str(&text).unwrap();
        assert_eq!(back, f);
    }
}
