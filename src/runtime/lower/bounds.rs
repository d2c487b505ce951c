//! Bounds before work: what a node would hold in memory, from the shapes the
//! specs know, against the machine's memory (or `ADVP_MAX_MEMORY`). A node
//! over it is an `advp::run::too_large` problem with the estimate and how to
//! shrink it, instead of an allocation that aborts the process mid-run.

use super::*;

/// Bytes a run may use: `ADVP_MAX_MEMORY` (see [`parse_size`]), else the
/// machine's memory; `None` when neither is known. A malformed
/// `ADVP_MAX_MEMORY` is refused by the CLI before any command that lowers
/// ([`memory_setting`]); a caller that bypassed it gets the machine's memory.
pub fn memory_limit() -> Option<u64> {
    if let Ok(Some(v)) = memory_setting() {
        return Some(v);
    }
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// An `ADVP_MAX_MEMORY` that is not a size: its value, worded with the
/// accepted forms.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("ADVP_MAX_MEMORY={0:?} is not a size: write a whole number of bytes, or a number with a unit: K, M, G, T or KiB, MiB, GiB, TiB (powers of 1024, as Slurm reads `--mem`), KB, MB, GB, TB (powers of 1000), e.g. `ADVP_MAX_MEMORY=64GiB` or `ADVP_MAX_MEMORY=16G`")]
pub struct NotASize(pub String);

/// `ADVP_MAX_MEMORY` read: `None` when unset, an error naming the variable,
/// its value and the accepted forms when it is not a size.
pub fn memory_setting() -> Result<Option<u64>, NotASize> {
    let Some(v) = std::env::var_os("ADVP_MAX_MEMORY") else {
        return Ok(None);
    };
    let text = v.to_string_lossy();
    parse_size(&text)
        .map(Some)
        .ok_or_else(|| NotASize(text.into_owned()))
}

/// A size in bytes: `4096`, `512M`, `1.5 GB`, `64GiB` (units case-insensitive;
/// K/M/G/T are powers of 1024 as before and as Slurm reads `--mem`, and so are
/// KiB/MiB/GiB/TiB; KB/MB/GB/TB are powers of 1000). A
/// negative, non-finite, unit-less fractional or unknown size is `None`.
pub fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = (&v[..split], v[split..].trim_start());
    // Digits with at most one point, at least one digit: no sign, no `inf`, no exponent.
    if num.is_empty() || !num.chars().any(|c| c.is_ascii_digit()) || num.matches('.').count() > 1 {
        return None;
    }
    let mul: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "k" | "kib" => 1024f64,
        "m" | "mib" => 1024f64.powi(2),
        "g" | "gib" => 1024f64.powi(3),
        "t" | "tib" => 1024f64.powi(4),
        _ => return None,
    };
    let bytes = num.parse::<f64>().ok()? * mul;
    // A fraction of a byte is a typo, not a size.
    if !bytes.is_finite() || bytes >= u64::MAX as f64 || (unit.is_empty() && num.contains('.')) {
        return None;
    }
    Some(bytes.round() as u64)
}

fn gib(b: u64) -> String {
    format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
}

/// Bytes of one float clip of the data, when the spec knows its shape.
fn clip_bytes(d: &DataSpec) -> Option<u64> {
    let (frames, size) = match d {
        DataSpec::Synthetic(a) => (a.spec.frames, a.spec.size),
        DataSpec::Frames { args, .. } => sampled(&args.sampling),
        DataSpec::Videos { args, .. } => sampled(&args.sampling),
        DataSpec::Tensors { .. } => return None,
    };
    Some(
        3u64.saturating_mul(frames as u64)
            .saturating_mul((size as u64).saturating_pow(2))
            .saturating_mul(4),
    )
}

/// Clips in a split, when the spec knows them before the data is opened.
fn split_clips(d: &DataSpec, split: SplitName) -> Option<usize> {
    match d {
        DataSpec::Synthetic(a) => Some(match split {
            SplitName::Train => a.train,
            SplitName::Val => a.val,
            SplitName::Test => a.test,
        }),
        DataSpec::Frames { .. } | DataSpec::Videos { .. } | DataSpec::Tensors { .. } => None,
    }
}

/// The views one test sample holds: all of a video's with `views`.
fn views(s: &Sampling) -> usize {
    if s.views {
        s.clips * s.crops
    } else {
        1
    }
}

/// The frames of one sample (all its views) and their side.
fn sampled(s: &Sampling) -> (usize, usize) {
    (s.cut.frames * views(s), s.cut.size)
}

/// A batch in flight: the clips, the perturbation, its gradient and the
/// attacked copy (activations come on top).
const BATCH_COPIES: u64 = 4;

/// Every node that would not fit, with its estimate.
pub(super) fn check(
    program: &Program,
    nodes: &[NodeSpec],
    limit: u64,
) -> Vec<(NodeId, Diagnostic)> {
    let data = |d: DataId| match &nodes[d.node()] {
        NodeSpec::Data(s) => Some(s),
        _ => None,
    };
    // A batch never holds more clips than its split has.
    let batch_of = |d: DataId, split: SplitName, batch: usize| {
        let d = data(d)?;
        let clips = batch.min(split_clips(d, split).unwrap_or(usize::MAX));
        let bytes = clip_bytes(d)?
            .saturating_mul(clips as u64)
            .saturating_mul(BATCH_COPIES);
        Some((
            bytes,
            format!("a batch of {clips} clips"),
            "a smaller `batch`, or smaller clips",
        ))
    };
    let mut out = Vec::new();
    for (i, spec) in nodes.iter().enumerate() {
        let (need, what, fix) = match spec {
            NodeSpec::Data(d @ DataSpec::Synthetic(a)) => {
                let held = clip_bytes(d)
                    .unwrap_or(0)
                    .saturating_mul((a.val + a.test) as u64)
                    .saturating_add((a.train as u64).saturating_mul(8));
                (
                    held,
                    format!("its {} held-out and test clips", a.val + a.test),
                    "fewer `val` and `test` clips, or smaller `frames` or `size`",
                )
            }
            NodeSpec::Train(t) => match batch_of(t.data, SplitName::Train, t.training.batch) {
                Some(b) => b,
                None => continue,
            },
            NodeSpec::Defense(DefenseSpec::ApeGan(g)) => {
                match batch_of(g.data, SplitName::Train, g.training.batch) {
                    Some(b) => b,
                    None => continue,
                }
            }
            NodeSpec::Eval(e) => match batch_of(e.split.data, e.split.split, e.batch) {
                Some(b) => b,
                None => continue,
            },
            _ => continue,
        };
        if need > limit {
            let n = &program.nodes[i];
            out.push((
                i,
                Diagnostic::new(
                    Code::TooLarge,
                    n.file,
                    n.name_span,
                    format!(
                        "`{}` needs about {} for {what}, more than the {} this run may use",
                        n.name,
                        gib(need),
                        gib(limit)
                    ),
                )
                .label("too large for this machine")
                .help(format!("use {fix}; or raise the bound with ADVP_MAX_MEMORY (e.g. `ADVP_MAX_MEMORY=64G`) on a larger machine")),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_with_their_units() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size(" 4096 "), Some(4096));
        assert_eq!(parse_size("4096B"), Some(4096));
        // K/M/G/T and KB/MB/GB/TB: powers of 1000, any case, a space allowed.
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("512 mb"), Some(512_000_000));
        assert_eq!(parse_size("16GB"), Some(16_000_000_000));
        assert_eq!(parse_size("16g"), Some(16 << 30));
        assert_eq!(parse_size("1.5G"), Some(3 << 29));
        assert_eq!(parse_size("2k"), Some(2048));
        assert_eq!(parse_size("3T"), Some(3 << 40));
        assert_eq!(parse_size("3 tb"), Some(3_000_000_000_000));
        // KiB/MiB/GiB/TiB: powers of 1024.
        assert_eq!(parse_size("1KiB"), Some(1024));
        assert_eq!(parse_size("64GiB"), Some(64 << 30));
        assert_eq!(parse_size("64 gib"), Some(64 << 30));
        assert_eq!(parse_size("1.5 MiB"), Some(3 << 19));
        assert_eq!(parse_size("2TIB"), Some(2 << 40));
    }

    #[test]
    fn anything_else_is_not_a_size() {
        for bad in [
            "",
            "abc",
            "lots",
            "inf",
            "Infinity",
            "NaN",
            "-1",
            "-16G",
            "+5",
            "1e9",
            "16GBs",
            "16 G B",
            "G",
            ".",
            "1.2.3",
            "0.5",
            "16XB",
            "16 KIBI",
            "99999999999999T",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }
}
