//! Bounds before work: what a node would hold in memory, from the shapes the
//! specs know, against the machine's memory (or `ADVP_MAX_MEMORY`). A node
//! over it is an `advp::run::too_large` problem with the estimate and how to
//! shrink it, instead of an allocation that aborts the process mid-run.

use super::*;

/// Bytes a run may use: `ADVP_MAX_MEMORY` (`64G`, `512M`, or bytes), else the
/// machine's memory; `None` when neither is known.
pub fn memory_limit() -> Option<u64> {
    if let Ok(v) = std::env::var("ADVP_MAX_MEMORY") {
        return parse_size(&v);
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

fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let (num, mul) = match v.chars().last()? {
        'K' | 'k' => (&v[..v.len() - 1], 1u64 << 10),
        'M' | 'm' => (&v[..v.len() - 1], 1 << 20),
        'G' | 'g' => (&v[..v.len() - 1], 1 << 30),
        'T' | 't' => (&v[..v.len() - 1], 1 << 40),
        _ => (v, 1),
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .map(|n| (n * mul as f64) as u64)
}

fn gib(b: u64) -> String {
    format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
}

/// Bytes of one float clip of the data, when the spec knows its shape.
fn clip_bytes(d: &DataSpec) -> Option<u64> {
    let (frames, size) = match d {
        DataSpec::Synthetic(a) => (a.spec.frames, a.spec.size),
        DataSpec::Frames { args, .. } => (args.frames, args.size),
        DataSpec::Tensors { .. } => return None,
    };
    Some(
        3u64.saturating_mul(frames as u64)
            .saturating_mul((size as u64).saturating_pow(2))
            .saturating_mul(4),
    )
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
    let data = |d: NodeId| match &nodes[d] {
        NodeSpec::Data(s) => Some(s),
        _ => None,
    };
    let batch_of = |d: NodeId, batch: usize| {
        data(d)
            .and_then(clip_bytes)
            .map(|c| c.saturating_mul(batch as u64).saturating_mul(BATCH_COPIES))
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
            NodeSpec::Train(t) => match batch_of(t.data, t.training.batch) {
                Some(b) => (
                    b,
                    format!("a batch of {} clips", t.training.batch),
                    "a smaller `batch`, or smaller clips",
                ),
                None => continue,
            },
            NodeSpec::Defense(DefenseSpec::ApeGan(g)) => match batch_of(g.data, g.training.batch) {
                Some(b) => (
                    b,
                    format!("a batch of {} clips", g.training.batch),
                    "a smaller `batch`, or smaller clips",
                ),
                None => continue,
            },
            NodeSpec::Eval(e) => match batch_of(e.split.data, e.batch) {
                Some(b) => (
                    b,
                    format!("a batch of {} clips", e.batch),
                    "a smaller `batch`, or smaller clips",
                ),
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
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("1.5G"), Some(3 << 29));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("lots"), None);
    }
}
