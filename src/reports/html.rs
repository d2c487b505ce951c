//! One self-contained HTML page per pipeline (`advp report`, and after every
//! `advp run`): every table and figure of the nodes that have finished, the
//! pipeline text, the seed, the cache keys and the machine. Figures are SVG
//! embedded as data: URLs, so the page is a single file that opens anywhere.

use super::{figure, plots, Grid, NodeResult};
use crate::language::program::{Node, Program};
use crate::results::{AnalysisResult, ClipRecord, Column, Row};
use base64::Engine;
use std::fmt::Write;

/// Where the page was made: shown so a reader knows what produced the numbers.
pub struct Machine {
    /// What writes the page (the nodes' own records are in their entries).
    pub record: crate::results::Machine,
    pub host: String,
}

impl Machine {
    pub fn here(device: tch::Device) -> Machine {
        Machine {
            record: crate::runtime::device::machine(device),
            host: crate::util::hostname(),
        }
    }
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn img(svg: &[u8], alt: &str) -> String {
    format!(
        "<figure><img class=\"fig\" alt=\"{}\" src=\"data:image/svg+xml;base64,{}\"></figure>",
        escape(alt),
        base64::engine::general_purpose::STANDARD.encode(svg)
    )
}

/// An evaluation's rows as an HTML table, the best of each column in bold.
fn table(rows: &[Row]) -> String {
    let grid = Grid::new(rows);
    let mut out = String::from("<table><thead><tr><th>model</th>");
    for c in &grid.columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr></thead><tbody>");
    for m in &grid.models {
        let _ = write!(out, "<tr><th>{}</th>", escape(m));
        for c in &grid.columns {
            match grid.cell(m, c) {
                Some(r) if grid.bold(r) => {
                    let _ = write!(out, "<td><b>{}</b></td>", super::tables::accuracy_text(r));
                }
                Some(r) => {
                    let _ = write!(out, "<td>{}</td>", super::tables::accuracy_text(r));
                }
                None => out.push_str("<td>–</td>"),
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// The norms table of [`super::tables::norms_cells`]; empty without norms.
fn norms_table(rows: &[Row]) -> String {
    let Some((columns, lines)) = super::tables::norms_cells(rows) else {
        return String::new();
    };
    let mut out = format!(
        "<p>{}</p><table><thead><tr><th>model</th>",
        escape(super::tables::NORMS_CAPTION)
    );
    for c in &columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr></thead><tbody>");
    for (m, cells) in lines {
        let _ = write!(out, "<tr><th>{}</th>", escape(&m));
        for c in cells {
            let _ = write!(out, "<td>{}</td>", escape(&c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// The claims tested on an evaluation; empty without claims.
fn claims_table(claims: &[crate::results::ClaimResult]) -> String {
    if claims.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "<h3>Claims</h3><p>{}</p><table class=\"claims\"><thead><tr><th>claim</th><th>A</th><th>B</th><th>difference (95 % CI)</th><th>p</th><th>verdict</th></tr></thead><tbody>",
        escape(&super::tables::claims_caption(claims))
    );
    for (c, cells) in claims.iter().zip(super::tables::claims_cells(claims)) {
        let class = match c.verdict {
            crate::results::Verdict::Holds => "holds",
            crate::results::Verdict::DoesNotHold => "fails",
            crate::results::Verdict::CannotTell => "open",
        };
        let _ = write!(
            out,
            "<tr class=\"{class}\"><th><code>{}</code></th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><b>{}</b></td></tr>",
            escape(&c.claim),
            cells[1],
            cells[2],
            escape(&cells[3]),
            cells[4],
            c.verdict.text()
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// The section of one finished node.
fn section(node: &Node, result: &NodeResult) -> String {
    let mut out = String::new();
    match result {
        NodeResult::Eval { result, .. } => {
            let rows = &result.rows;
            let settings = super::tables::column_settings(rows);
            if !settings.is_empty() {
                out.push_str("<ul class=\"setting\">");
                for (c, s) in &settings {
                    let _ = write!(out, "<li><b>{}</b>: {}</li>", escape(c), escape(s));
                }
                out.push_str("</ul>");
            }
            let _ = write!(
                out,
                "<p>Top-1 accuracy (%), {}</p>{}",
                escape(&super::tables::caption(rows)),
                table(rows)
            );
            out.push_str(&claims_table(&result.claims));
            let note = super::tables::pipeline_note(result);
            if !note.is_empty() {
                let _ = write!(out, "<p class=\"note\">{}</p>", escape(note.trim()));
            }
            out.push_str(&norms_table(rows));
            for f in &result.flags {
                let _ = write!(
                    out,
                    "<p class=\"warning\"><strong>Warning</strong> (<code>{}</code>, <code>{}</code>): {}</p>",
                    escape(&f.check),
                    escape(&f.model),
                    escape(&f.message)
                );
            }
        }
        NodeResult::Analysis {
            result: AnalysisResult::Fit(f),
            ..
        } => {
            let _ = write!(
                out,
                "<p>Fitted step size: {}.</p>",
                crate::results::line_text(f.a, f.b, f.r2)
            );
        }
        _ => {}
    }
    let fig = figure(&node.name, result);
    match plots::render(&fig, plots::Format::Svg) {
        Ok(svg) => out.push_str(&img(&svg, &format!("figure of {}", node.name))),
        Err(e) => {
            let _ = write!(out, "<p class=\"missing\">{}</p>", escape(&e));
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}\
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}\
thead th,tbody th{text-align:left;background:#f4f4f4}figure{margin:.5rem 0}img.fig{max-width:100%;border:1px solid #eee}\
pre{background:#f7f7f7;padding:.75rem;overflow-x:auto}code{font-size:90%}.note{color:#555}.missing{color:#a00}.warning{color:#8a4b00;background:#fff6e5;padding:.4rem}\
.examples{display:flex;flex-wrap:wrap;gap:.75rem}figure.example{margin:0;max-width:100%}img.example{width:36rem;max-width:100%;image-rendering:pixelated;border:1px solid #eee}figure.example figcaption{font-size:90%;color:#444}\
details.per-class{margin:.5rem 0}details.per-class table{margin:.25rem 0 .75rem}.files{font-size:90%}\
tr.holds td:last-child{color:#1a6b1a}tr.fails td:last-child{color:#a00}tr.open td:last-child{color:#666}";

/// Counts, once the page has loaded, the figures that decoded (the body's
/// `data-figures`, for a headless browser); the page says so only when one
/// failed.
const CHECK: &str = "window.addEventListener('load',function(){var im=document.querySelectorAll('img.fig');\
var ok=0;im.forEach(function(i){if(i.complete&&i.naturalWidth>0)ok++;});\
document.body.setAttribute('data-figures',ok+'/'+im.length);\
var s=document.getElementById('figcount');if(s&&ok<im.length)s.textContent=(im.length-ok)+' of '+im.length+' figures did not render';});";

/// One node's table and figure as a page of its own (`report e to "e.html"`).
pub fn node_page(node: &Node, result: &NodeResult) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0}</title><style>{STYLE}</style></head><body><h1>{0}</h1>{1}<p id=\"figcount\"></p><script>{CHECK}</script></body></html>\n",
        escape(&node.name),
        section(node, result)
    )
}

/// Where a node belongs on the page: results first (evaluations, then
/// analyses), the trainings that produced the models after.
fn part(kind: crate::language::ast::DeclKind) -> usize {
    use crate::language::ast::DeclKind as K;
    match kind {
        K::Eval => 0,
        K::Analyze => 1,
        _ => 2,
    }
}

/// The files a node's reports wrote, as links relative to the page.
fn report_links(program: &Program, node: &str) -> String {
    let links: Vec<String> = program
        .reports
        .iter()
        .filter(|r| r.target == node)
        .flat_map(|r| r.paths.iter())
        .filter(|p| !p.ends_with(".html"))
        .map(|p| format!("<a href=\"{0}\">{0}</a>", escape(p)))
        .collect();
    if links.is_empty() {
        String::new()
    } else {
        format!("<p class=\"files\">Files: {}</p>", links.join(" · "))
    }
}

/// The files the nodes read (data, weights, modules): path and SHA-256 as
/// the cached results recorded it when they were computed, with a warning
/// where the file differs now; a file no entry recorded shows its hash as the
/// page is written (a folder of frames is named, not hashed).
fn files_read(rows: &[super::inputs::FileRow]) -> String {
    let mut out = String::new();
    for r in rows {
        let hash = if r.recorded.is_empty() {
            match &r.now {
                Ok(h) => format!("<code>{}</code> (when this page was written)", escape(h)),
                Err(why) => escape(why),
            }
        } else {
            let mut cell = r
                .recorded
                .iter()
                .map(|(sha, nodes)| {
                    format!(
                        "<code>{}</code> (computed from by {})",
                        escape(sha),
                        escape(&nodes.join(", "))
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>");
            if !r.changed().is_empty() {
                let now = match &r.now {
                    Ok(h) => format!("now <code>{}</code>", escape(h)),
                    Err(why) => escape(why),
                };
                let _ = write!(
                    cell,
                    "<br><strong class=\"warn\">the file changed since the cached results were computed from it: {now}; their numbers are the old file's (run with <code>--force</code>)</strong>"
                );
            }
            cell
        };
        let _ = write!(
            out,
            "<tr><th><code>{}</code></th><td><code>{}</code></td><td>{hash}</td></tr>",
            escape(&r.node),
            escape(&r.path)
        );
    }
    if out.is_empty() {
        return String::new();
    }
    format!(
        "<h2>Files read</h2><table><thead><tr><th>node</th><th>file</th><th>SHA-256 the results were computed from</th></tr></thead><tbody>{out}</tbody></table>"
    )
}

/// An evaluation's example animations on the page (from its `examples`
/// reports), scaled up without smoothing, each with its true and predicted
/// label, successful attacks first; and its per-class accuracy behind a
/// disclosure. Both from the per-clip records.
fn eval_extras(program: &Program, replicates: &super::Replicates, node: &Node, i: usize) -> String {
    let Ok(seeds) = replicates.records(i) else {
        return String::new();
    };
    let first = seeds.first().cloned().unwrap_or_default();
    let mut out = example_figures(program, replicates, node, i, &first);
    // Per-class accuracy over every seed's records.
    let records: Vec<&ClipRecord> = seeds.iter().flatten().collect();
    if !records.is_empty() {
        out.push_str(&per_class(&records));
    }
    out
}

/// The example animations of an evaluation's `examples` reports, chosen
/// from the first seed's records.
fn example_figures(
    program: &Program,
    replicates: &super::Replicates,
    node: &Node,
    i: usize,
    first: &[ClipRecord],
) -> String {
    let mut out = String::new();
    for r in program
        .reports
        .iter()
        .filter(|r| r.target == node.name && r.mode.as_deref() == Some("examples"))
    {
        let Ok(keys) =
            super::examples::tensor_names(&replicates.dir(0, i).join("adversarial.safetensors"))
        else {
            continue;
        };
        let picks = super::examples::chosen(&node.name, &keys, first);
        if picks.is_empty() {
            continue;
        }
        let folder = r.paths.first().map_or("", String::as_str);
        let _ = write!(
            out,
            "<h4>Examples</h4><p class=\"note\">Each: the clean clip, the adversarial clip, and the perturbation magnified (mid-grey = 0); successful attacks first.</p><div class=\"examples\">"
        );
        for p in &picks {
            let column = p.key.column.to_string();
            let shown = match &p.key.column {
                Column::Budget(eps) => format!("ε {eps}"),
                c => c.to_string(),
            };
            let _ = write!(
                out,
                "<figure class=\"example\"><img class=\"example\" src=\"{}/{}\" alt=\"{} at {}, clip {}\"><figcaption><code>{}</code> · {} · clip {}: true {} → predicted {}{}</figcaption></figure>",
                escape(folder),
                escape(&p.file),
                escape(&p.key.model),
                escape(&column),
                p.clip,
                escape(&p.key.model),
                escape(&shown),
                p.clip,
                p.label,
                p.predicted,
                if p.fooled { " (fooled)" } else { "" }
            );
        }
        out.push_str("</div>");
    }
    out
}

/// Per-class accuracy of each model and column, behind a disclosure.
fn per_class(records: &[&ClipRecord]) -> String {
    let mut out = String::new();
    let sweep = !records.iter().any(|r| r.attack.is_clean());
    let column = |r: &ClipRecord| {
        if sweep {
            format!("ε = {}", super::tables::eps_label(r.eps))
        } else {
            r.attack.to_string()
        }
    };
    let mut columns: Vec<String> = Vec::new();
    let mut models: Vec<String> = Vec::new();
    let mut classes: std::collections::BTreeSet<i64> = Default::default();
    let mut cells: std::collections::HashMap<(String, String, i64), (u64, u64)> =
        Default::default();
    for r in records {
        let c = column(r);
        if !columns.contains(&c) {
            columns.push(c.clone());
        }
        if !models.contains(&r.model) {
            models.push(r.model.clone());
        }
        classes.insert(r.label);
        let e = cells.entry((r.model.clone(), c, r.label)).or_default();
        e.0 += u64::from(!r.fooled);
        e.1 += 1;
    }
    let _ = write!(
        out,
        "<details class=\"per-class\"><summary>Per-class accuracy (%)</summary><p class=\"note\">Correct clips of each class over its clips, every seed pooled.</p>"
    );
    for m in &models {
        let _ = write!(
            out,
            "<table><thead><tr><th><code>{}</code>: class</th>",
            escape(m)
        );
        for c in &columns {
            let _ = write!(out, "<th>{}</th>", escape(c));
        }
        out.push_str("</tr></thead><tbody>");
        for k in &classes {
            let _ = write!(out, "<tr><th>{k}</th>");
            for c in &columns {
                match cells.get(&(m.clone(), c.clone(), *k)) {
                    Some((ok, n)) if *n > 0 => {
                        let _ = write!(
                            out,
                            "<td>{:.1} ({ok}/{n})</td>",
                            100.0 * *ok as f64 / *n as f64
                        );
                    }
                    _ => out.push_str("<td>–</td>"),
                }
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</details>");
    out
}

/// The whole page. `order`: the nodes in the order they run.
pub fn page(
    program: &Program,
    order: &[usize],
    replicates: &super::Replicates,
    machine: &Machine,
    base: &std::path::Path,
) -> String {
    let name = program.name();
    let mut body = String::new();
    let seeds: Vec<String> = replicates.seeds.iter().map(u64::to_string).collect();
    let m = &machine.record;
    let _ = write!(
        body,
        "<h1>{}</h1><p>Profile: <code>{}</code> · seed{} {} · precision {} · advp {}</p>",
        escape(&name),
        escape(program.profile.as_deref().unwrap_or("(none)")),
        if seeds.len() == 1 { "" } else { "s" },
        seeds.join(", "),
        program.settings.precision.as_str(),
        escape(&m.advp)
    );
    // When the results were computed: the first and last entry to finish
    // (from the cache, so `advp report` writes the same page again).
    let finished: Vec<u64> = order
        .iter()
        .flat_map(|&i| (0..replicates.seeds.len()).map(move |k| (k, i)))
        .filter_map(|(k, i)| crate::results::Timing::of(&replicates.dir(k, i)))
        .map(|t| t.finished)
        .collect();
    let computed = match (finished.iter().min(), finished.iter().max()) {
        (Some(a), Some(b)) => {
            let (a, b) = (crate::util::utc(*a), crate::util::utc(*b));
            if a == b {
                a
            } else {
                format!("{a} – {b}")
            }
        }
        _ => "–".into(),
    };
    let _ = write!(
        body,
        "<h2>Run</h2><table><tr><th>computed</th><td>{}</td></tr><tr><th>host</th><td>{}</td></tr><tr><th>device</th><td>{}{}</td></tr><tr><th>CPU</th><td>{}</td></tr><tr><th>CPU threads</th><td>{}</td></tr><tr><th>libtorch</th><td>{}</td></tr></table>",
        escape(&computed),
        escape(&machine.host),
        escape(&m.device_text()),
        m.gpu.as_ref().map_or(String::new(), |g| format!(" ({})", escape(g))),
        escape(&m.cpu),
        m.threads,
        escape(&m.libtorch)
    );
    let mut keys_table = String::from(
        "<table><thead><tr><th>node</th><th>kind</th><th>seed</th><th>status</th><th>seconds</th><th>finished</th><th>host</th><th>cache key</th></tr></thead><tbody>",
    );
    let mut parts = [String::new(), String::new(), String::new()];
    for &i in order {
        let n = &program.nodes[i];
        if !crate::language::builtins::computed(n.kind, &n.builtin) {
            continue;
        }
        for (k, seed) in replicates.seeds.iter().enumerate() {
            let dir = replicates.dir(k, i);
            let timing = crate::results::Timing::of(&dir);
            let _ = write!(
                keys_table,
                "<tr><th><a href=\"#{0}\">{0}</a></th><td>{1}</td><td>{seed}</td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td><td><code>{6}</code></td></tr>",
                escape(&n.name),
                n.kind.as_str(),
                // `advp status`'s words and check: an entry counts once its
                // files match its manifest (and it has what its reports need).
                if replicates.cached[k][i] {
                    "cached"
                } else {
                    "to run"
                },
                timing.as_ref().map_or("–".into(), |t| format!("{:.2}", t.seconds)),
                timing.as_ref().map_or("–".into(), |t| crate::util::utc(t.finished)),
                escape(timing.as_ref().map_or("–", |t| t.host.as_str())),
                escape(&replicates.keys[k][i])
            );
        }
        let out = &mut parts[part(n.kind)];
        let _ = write!(
            out,
            "<section id=\"{0}\"><h3>{1} <code>{0}</code> = {2}</h3>",
            escape(&n.name),
            n.kind.as_str(),
            escape(&n.builtin)
        );
        out.push_str(&report_links(program, &n.name));
        if replicates.done(i) {
            match replicates.load(n, i) {
                Ok(r) => {
                    out.push_str(&section(n, &r));
                    if crate::language::builtins::reports_as(n.kind, &n.builtin)
                        == Some(crate::language::ast::DeclKind::Eval)
                    {
                        out.push_str(&eval_extras(program, replicates, n, i));
                    }
                }
                Err(e) => {
                    let _ = write!(out, "<p class=\"missing\">{}</p>", escape(&e));
                }
            }
        } else {
            out.push_str(
                "<p class=\"missing\">Not run yet under every seed (or not cached here).</p>",
            );
        }
        out.push_str("</section>");
    }
    for (title, part) in ["Results", "Analyses", "Training"].iter().zip(&parts) {
        if !part.is_empty() {
            let _ = write!(body, "<h2>{title}</h2>{part}");
        }
    }
    keys_table.push_str("</tbody></table>");
    body.push_str(&files_read(&super::inputs::rows(program, replicates, base)));
    let _ = write!(
        body,
        "<h2>Cache</h2><p>Seconds: the node's own time (its inputs' left out), from its entry's <code>timing.json</code>.</p>{keys_table}"
    );
    let source = program.sources.file(program.main);
    let _ = write!(
        body,
        "<h2>Pipeline</h2><p><code>{}</code></p><pre><code>{}</code></pre>",
        escape(&source.name),
        escape(&source.text)
    );
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>{body}<p id=\"figcount\"></p><script>{CHECK}</script></body></html>\n",
        escape(&name)
    )
}
