//! Policies that need no training: the reference points a learned policy must beat.

mod faas_only;

pub use faas_only::FaasOnly;
