//! Helpers the end-to-end tests share: the random and extreme values the property tests feed to
//! every parser.

use proptest::prelude::*;

/// Numbers a careless or hostile file might hold.
pub fn extreme_number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("1e308".to_string()),
        Just("-1e308".to_string()),
        Just("1e-320".to_string()),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("4000000000".to_string()),
        Just("18446744073709551616".to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        any::<u32>().prop_map(|v| v.to_string()),
        (0.0..1e7f64).prop_map(|v| format!("{v}")),
    ]
}

/// The byte ranges of the numeric literals of `text`.
fn number_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
        if starts {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || matches!(bytes[i], b'.' | b'e' | b'-')) {
                i += 1;
            }
            spans.push((start, i));
        } else {
            i += 1;
        }
    }
    spans
}

/// `text` with 1 to `max_edits` of its numeric literals replaced by [`extreme_number`]s.
pub fn with_numbers_replaced(text: &'static str, max_edits: usize) -> impl Strategy<Value = String> {
    let spans = number_spans(text);
    prop::collection::vec((0..spans.len(), extreme_number()), 1..=max_edits).prop_map(move |edits| {
        let mut edits: Vec<((usize, usize), String)> =
            edits.into_iter().map(|(i, v)| (spans[i], v)).collect();
        edits.sort_by_key(|e| std::cmp::Reverse(e.0.0));
        edits.dedup_by_key(|e| e.0.0);
        let mut out = text.to_string();
        for ((start, end), value) in edits {
            out.replace_range(start..end, &value);
        }
        out
    })
}
