//! The held-out protocol: named, disjoint seed ranges, so a figure says which seeds made it and no
//! tuning or training ever sees the seeds a report is judged on.
//!
//! | name | first seed | used by |
//! |---|---|---|
//! | `train` | 1 | training environments (`seed + i`), `serflow tune`'s search |
//! | `selection` | 1,000,000 | evaluation during training (the checkpoint kept as best) |
//! | `heldout` | 2,000,000 | reported figures (`compare --first-seed heldout`) |

/// `(name, first seed, what it is for)` of every named range.
pub const SEED_RANGES: [(&str, u64, &str); 3] = [
    ("train", 1, "training environments and calibration"),
    ("selection", 1_000_000, "evaluation during training"),
    ("heldout", 2_000_000, "reported figures"),
];

/// The first seed of the range named `name`.
pub fn named(name: &str) -> Option<u64> {
    SEED_RANGES.iter().find(|r| r.0 == name).map(|r| r.1)
}

/// A first seed given as a number or a range name.
pub fn parse_first_seed(text: &str) -> Result<u64, String> {
    text.parse::<u64>().ok().or_else(|| named(text)).ok_or_else(|| {
        let names: Vec<&str> = SEED_RANGES.iter().map(|r| r.0).collect();
        format!("`{text}` is neither a seed nor a range name ({})", names.join(", "))
    })
}

/// Most seeds one comparison or evaluation runs (each one a whole episode per policy).
pub const MAX_SEEDS: u64 = 10_000;

/// Seeds `first..first + count`; errors call the two what the caller does (`--first-seed`, `--seeds`).
pub fn seed_range(first: u64, count: u64, first_name: &str, count_name: &str) -> Result<Vec<u64>, String> {
    if count == 0 || count > MAX_SEEDS {
        return Err(format!("{count_name}: must be between 1 and {MAX_SEEDS}, got {count}"));
    }
    let end =
        first.checked_add(count).ok_or_else(|| format!("{first_name}: {first} + {count} seeds overflows"))?;
    Ok((first..end).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_parse_and_ranges_do_not_overlap() {
        assert_eq!(parse_first_seed("heldout"), Ok(2_000_000));
        assert_eq!(parse_first_seed("17"), Ok(17));
        assert!(parse_first_seed("test").unwrap_err().contains("heldout"));
        assert!(SEED_RANGES.windows(2).all(|w| w[0].1 + 999_999 <= w[1].1), "a million seeds per range");
    }
}
