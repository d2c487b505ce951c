//! An evaluation's rows as tables: the grid every layout shares, Markdown
//! like the paper's (best of each column in bold), CSV, and an analysis's CSV.

use crate::results::{AnalysisResult, EvalResult, Protocol, Row, Through};

/// Formats a budget as written in the file (8, not 8.0).
pub fn eps_label(e: f64) -> String {
    if e.fract() == 0.0 {
        format!("{}", e as i64)
    } else {
        format!("{e}")
    }
}

/// An evaluation's rows laid out as its table: one row per model, one
/// column per budget ε of a sweep or per attack of `attacks each {…}`, in
/// the order they first appear. Shared by the Markdown, the HTML page and the
/// figures.
pub struct Grid<'a> {
    rows: &'a [Row],
    pub models: Vec<String>,
    pub columns: Vec<String>,
}

impl<'a> Grid<'a> {
    pub fn column(r: &Row) -> String {
        match &r.attack {
            Some(a) => a.clone(),
            None => format!("ε = {}", eps_label(r.eps)),
        }
    }

    pub fn new(rows: &'a [Row]) -> Self {
        let (mut models, mut columns) = (Vec::<String>::new(), Vec::<String>::new());
        for r in rows {
            if !models.contains(&r.model) {
                models.push(r.model.clone());
            }
            let c = Self::column(r);
            if !columns.contains(&c) {
                columns.push(c);
            }
        }
        Grid {
            rows,
            models,
            columns,
        }
    }

    pub fn cell(&self, model: &str, column: &str) -> Option<&'a Row> {
        self.rows
            .iter()
            .find(|r| r.model == model && Self::column(r) == column)
    }

    /// The best accuracy of a column (the paper's bold).
    pub fn best(&self, column: &str) -> f64 {
        self.rows
            .iter()
            .filter(|r| Self::column(r) == column)
            .map(|r| r.accuracy)
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// Whether `r` is shown bold: the best of its column and, where the rows
    /// carry intervals, separated from the runner-up by them (its interval's
    /// low end above the runner-up's high end). Results without intervals
    /// (earlier advp versions) bold the best alone.
    pub fn bold(&self, r: &Row) -> bool {
        let column = Self::column(r);
        if r.accuracy != self.best(&column) {
            return false;
        }
        let others: Vec<&Row> = self
            .rows
            .iter()
            .filter(|o| Self::column(o) == column && !std::ptr::eq(*o, r))
            .collect();
        match (r.ci_low, others.iter().all(|o| o.ci_high.is_some())) {
            (Some(lo), true) => others.iter().all(|o| o.ci_high.is_some_and(|hi| lo > hi)),
            _ => true,
        }
    }
}

/// A cell's accuracy in percent, with ± half its 95 % interval when known.
pub fn accuracy_text(r: &Row) -> String {
    match (r.ci_low, r.ci_high) {
        (Some(lo), Some(hi)) => format!("{:.1} ± {:.1}", 100.0 * r.accuracy, 50.0 * (hi - lo)),
        _ => format!("{:.1}", 100.0 * r.accuracy),
    }
}

/// The caption under a table whose cells carry intervals.
pub const INTERVAL_CAPTION: &str = "Each cell: top-1 accuracy ± half its 95 % Wilson interval over the clips (one seed). Bold: the best of a column, only where its interval lies above every other row's.";

/// The caption under a table over several seeds.
pub const SEEDS_CAPTION: &str = "Each cell: the mean top-1 accuracy over the seeds ± half its 95 % interval (Student's t over the seeds, never narrower than the Wilson interval over the clips); each seed's value is in the CSV and JSON. Bold: the best of a column, only where its interval lies above every other row's.";

/// How many clips (and seeds) a table rests on, and what its ± means.
pub fn caption(rows: &[Row]) -> String {
    let (n, k) = rows.first().map_or((0, 1), |r| (r.clips(), r.seeds()));
    let clips = match rows.iter().find_map(|r| r.n_videos) {
        Some(v) => format!("{n} clips of {v} videos"),
        None => format!("{n} clips"),
    };
    let mut out = if k > 1 {
        format!("{clips} per cell, {k} seeds.")
    } else {
        format!("{clips} per cell.")
    };
    if rows.iter().any(|r| r.ci_low.is_some()) {
        out.push(' ');
        out.push_str(if k > 1 {
            SEEDS_CAPTION
        } else {
            INTERVAL_CAPTION
        });
    }
    if let Some(v) = rows.iter().find_map(|r| r.n_videos) {
        out.push(' ');
        out.push_str(&format!("{VIDEOS_CAPTION} (intervals over {v} videos)."));
    }
    out
}

/// The note under a table whose clips share videos.
pub const VIDEOS_CAPTION: &str = "Clips cut from one video are not independent evidence: where a video gives several, each interval is over the videos (Wilson's at the effective number of independent clips, Korn & Graubard 1998), never narrower than its videos can measure";

/// The claims of an evaluation as a Markdown section; empty without claims.
pub fn claims_markdown(claims: &[crate::results::ClaimResult]) -> String {
    if claims.is_empty() {
        return String::new();
    }
    let mut out = format!("\n## Claims\n\n{}\n\n", claims_caption(claims));
    out.push_str(
        "| claim | A | B | difference (95 % CI) | p | verdict |\n|---|---:|---:|---:|---:|---|\n",
    );
    for c in claims_cells(claims) {
        out.push_str(&format!("| {} |\n", c.join(" | ")));
    }
    out
}

/// The caption of the claims (Markdown and HTML): [`CLAIMS_CAPTION`], and
/// where clips share videos, that the videos are the units.
pub fn claims_caption(claims: &[crate::results::ClaimResult]) -> String {
    match claims.iter().find_map(|c| c.n_videos) {
        Some(v) => format!(
            "{CLAIMS_CAPTION} Here the clips come from {v} videos, several clips each, and the videos are the units: McNemar's test over videos (Durkalski et al. 2003's statistic, with its exact sign-flip p-value), the bootstrap resampling videos."
        ),
        None => CLAIMS_CAPTION.to_string(),
    }
}

/// The caption of the claims table (HTML).
pub const CLAIMS_CAPTION: &str = "Each claim is a paired test over the same clips and seeds: McNemar's exact test on the clips one model gets right and the other wrong (pooled over seeds), the difference's 95 % interval a paired bootstrap over clips. It holds where the difference has the claimed sign at p < 0.05; it does not hold where the interval excludes the claimed direction (or the test finds the opposite); otherwise this many clips and seeds cannot tell.";

/// One line of cells per claim: the claim, A's and B's accuracy, the
/// difference with its interval, p, the verdict.
pub fn claims_cells(claims: &[crate::results::ClaimResult]) -> Vec<Vec<String>> {
    claims
        .iter()
        .map(|c| {
            vec![
                format!("`{}`", c.claim),
                format!("{:.1}", 100.0 * c.accuracy_a),
                format!("{:.1}", 100.0 * c.accuracy_b),
                format!(
                    "{:+.1} [{:+.1}, {:+.1}]",
                    100.0 * c.difference,
                    100.0 * c.ci_low,
                    100.0 * c.ci_high
                ),
                crate::results::replicates::p_text(c.p_value),
                format!("**{}**", c.verdict.text()),
            ]
        })
        .collect()
}

/// Rows as a Markdown table: one row per model, one column per ε, the best
/// accuracy of each column in bold (as in the paper's tables).
pub fn markdown(title: &str, cx: &Context, rows: &[Row]) -> String {
    let grid = Grid::new(rows);
    let (models, columns) = (&grid.models, &grid.columns);
    let what = match (&cx.attack, rows.iter().any(|r| r.attack.is_some())) {
        (_, true) => "under each attack".to_string(),
        (Some(a), false) => format!("under `{a}` at budget ε (0..255 units)"),
        (None, false) => "under attack at budget ε (0..255 units)".to_string(),
    };
    let mut out = format!(
        "# {title}\n\nTop-1 accuracy (%) {what}.\n\n{}| model |",
        cx.attack_notes()
    );
    for c in columns {
        out.push_str(&format!(" {c} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    for m in models {
        out.push_str(&format!("| {m} |"));
        for c in columns {
            match grid.cell(m, c) {
                Some(r) => {
                    let v = accuracy_text(r);
                    if grid.bold(r) {
                        out.push_str(&format!(" **{v}** |"));
                    } else {
                        out.push_str(&format!(" {v} |"));
                    }
                }
                None => out.push_str(" – |"),
            }
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&caption(rows));
    out.push('\n');
    out.push_str(&settings_markdown(rows));
    out
}

/// The attack of each column in full, by column (every row of a column has
/// the same; distinct ones are `; `-joined); columns without one are left out.
pub fn column_settings(rows: &[Row]) -> Vec<(String, String)> {
    let grid = Grid::new(rows);
    let mut out = Vec::new();
    for c in &grid.columns {
        let mut seen: Vec<&str> = Vec::new();
        for r in rows.iter().filter(|r| Grid::column(r) == *c) {
            if let Some(s) = r.setting.as_deref() {
                if !seen.contains(&s) {
                    seen.push(s);
                }
            }
        }
        if !seen.is_empty() {
            out.push((c.clone(), seen.join("; ")));
        }
    }
    out
}

/// [`column_settings`] as a list under the table; empty without settings.
fn settings_markdown(rows: &[Row]) -> String {
    let list: String = column_settings(rows)
        .iter()
        .map(|(c, s)| format!("- {c}: {s}\n"))
        .collect();
    if list.is_empty() {
        list
    } else {
        format!("\nAttack of each column:\n\n{list}")
    }
}

/// What a table's CSV and caption say besides its rows: the sweep's attack
/// name, the protocol, what the attacks differentiated, each row's defenses.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// A budget sweep's attack (`pgd`); `None` for `attacks each`.
    pub attack: Option<String>,
    pub protocol: Protocol,
    pub through: Through,
    /// The defenses in front of each model, by label, in order.
    pub defenses: std::collections::BTreeMap<String, Vec<String>>,
    /// The published AutoAttack version the sweep's attack is (`standard`).
    pub autoattack: Option<String>,
    /// What ran otherwise than written on the data's class count.
    pub as_run: Vec<String>,
}

impl Context {
    pub fn of(v: &EvalResult) -> Context {
        Context {
            attack: v
                .attack
                .as_ref()
                .and_then(|a| a["name"].as_str())
                .map(str::to_string),
            protocol: v.protocol,
            through: v.through,
            defenses: v.defenses.clone(),
            autoattack: v
                .attack
                .as_ref()
                .and_then(|a| a["autoattack"].as_str())
                .map(str::to_string),
            as_run: v
                .attack
                .as_ref()
                .and_then(|a| a["as_run"].as_array())
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect(),
        }
    }

    /// AutoAttack's version and what ran otherwise than written, as the
    /// sentences under a table's first line (empty for neither).
    fn attack_notes(&self) -> String {
        let mut out = String::new();
        if let Some(v) = &self.autoattack {
            out.push_str(&format!("AutoAttack, the published `{v}` version.\n"));
        }
        if !self.as_run.is_empty() {
            out.push_str(&format!(
                "As run on this data: {}.\n",
                self.as_run.join("; ")
            ));
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }
}

/// What the attacks differentiated, and the defenses in front of each model,
/// from an evaluation's result.
/// Rows as CSV. `accuracy` is the mean over the seeds (`correct` and `n`
/// their sums); `seed` and `per_seed` list the seeds and each one's
/// accuracy, space-separated in the same order.
/// The last columns say what each row is: `setting` (the column's attack in
/// full), `defenses` (in front of the model, ` >> `-joined), `protocol` and
/// `through`; `attack` names a sweep's attack too.
pub fn csv(rows: &[Row], seeds: &[u64], cx: &Context) -> String {
    let mut out = String::from(
        "model,attack,eps,alpha,accuracy,correct,n,video_accuracy,seed,ci_low,ci_high,n_seeds,n_clips,per_seed,setting,defenses,protocol,through\n",
    );
    let protocol = match cx.protocol {
        Protocol::Independent => "independent",
        Protocol::WorstCase => "worst_case",
    };
    let through = match cx.through {
        Through::All => "all",
        Through::Classifier => "classifier",
    };
    let seed = seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    for r in rows {
        let per_seed = if r.per_seed.is_empty() {
            r.accuracy.to_string()
        } else {
            r.per_seed
                .iter()
                .map(|s| s.accuracy.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let defenses = cx
            .defenses
            .get(&r.model)
            .map(|d| d.join(" >> "))
            .unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{seed},{},{},{},{},{per_seed},{},{},{protocol},{through}\n",
            field(&r.model),
            field(r.attack.as_deref().or(cx.attack.as_deref()).unwrap_or("")),
            eps_label(r.eps),
            r.alpha,
            r.accuracy,
            r.correct,
            r.n,
            r.video_accuracy.map_or(String::new(), |v| v.to_string()),
            num(&r.ci_low),
            num(&r.ci_high),
            r.seeds(),
            r.clips(),
            field(r.setting.as_deref().unwrap_or("")),
            field(&defenses),
        ));
    }
    out
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// What the attacks differentiated, and the defenses in front of each model,
/// from an evaluation's result.
pub fn pipeline_note(v: &EvalResult) -> String {
    let mut out = String::new();
    if let Some(here) = &v.machine {
        for (m, there) in &v.trained_on {
            match m.strip_prefix(crate::results::replicates::REPLICATE) {
                Some(seed) => out.push_str(&format!(
                    "Mixed machines: the replicate of seed {seed} ran on {}; the first seed's on {}.\n",
                    there.text(),
                    here.text()
                )),
                None => out.push_str(&format!(
                    "Mixed machines: `{m}` was trained on {}; the evaluation ran on {}.\n",
                    there.text(),
                    here.text()
                )),
            }
        }
    }
    if !v.train_seconds.is_empty() {
        let parts: Vec<String> = v
            .train_seconds
            .iter()
            .map(|(m, s)| format!("`{m}` {s:.1} s"))
            .collect();
        out.push_str(&format!("Training time: {}.\n", parts.join(", ")));
    }
    out.push_str(match v.protocol {
        Protocol::Independent => "Protocol `independent` (the paper's): each cell attacked from scratch, the final iterate counts.\n",
        Protocol::WorstCase => "Protocol `worst_case` (AutoAttack's): a clip counts robust at ε only if no iterate fooled it at any budget ≤ ε; clean-misclassified clips count as fooled and are not attacked.\n",
    });

    let behind: Vec<String> = v
        .defenses
        .iter()
        .filter(|(_, d)| !d.is_empty())
        .map(|(m, d)| format!("`{m}` runs behind {}", d.join(" → ")))
        .collect();
    if !behind.is_empty() {
        out.push_str(&format!("{}.\n", behind.join("; ")));
        out.push_str(match v.through {
            Through::Classifier => "Attacks were computed on the classifier alone; the defenses in front were not attacked (`through: classifier`).\n",
            Through::All => "Attacks were computed through the whole pipeline, defenses included (white-box).\n",
        });
    }
    out
}

/// The sanity checks the evaluation failed, a Markdown line each.
pub fn flags_markdown(v: &EvalResult) -> String {
    v.flags
        .iter()
        .map(|f| {
            format!(
                "**Warning** (`{}`, `{}`): {}\n",
                f.check, f.model, f.message
            )
        })
        .collect()
}

/// The columns, then each model with its cells' text.
pub type NormsCells = (Vec<String>, Vec<(String, Vec<String>)>);

/// The perturbations of the fooled clips, cell by cell, as text: the grid's
/// columns and, per model, "L∞ mean / max, L2 mean / max" (0..255 units) or
/// "–"; `None` when no cell has norms. The Markdown and the HTML page lay
/// these out.
pub fn norms_cells(rows: &[Row]) -> Option<NormsCells> {
    if rows.iter().all(|r| r.norms.is_none()) {
        return None;
    }
    let grid = Grid::new(rows);
    let f = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{v:.2}"));
    let lines = grid
        .models
        .iter()
        .map(|m| {
            let cells = grid
                .columns
                .iter()
                .map(|c| match grid.cell(m, c).and_then(|r| r.norms.as_ref()) {
                    Some(n) if n.fooled > 0 => format!(
                        "{} / {}, {} / {}",
                        f(n.linf_mean),
                        f(n.linf_max),
                        f(n.l2_mean),
                        f(n.l2_max)
                    ),
                    _ => "–".to_string(),
                })
                .collect();
            (m.clone(), cells)
        })
        .collect();
    Some((grid.columns.clone(), lines))
}

/// What [`norms_cells`] says, as a caption.
pub const NORMS_CAPTION: &str =
    "Perturbations of the clips each attack fooled: L∞ mean / max, L2 mean / max (0..255 units).";

/// The norms table in Markdown; empty when no cell has norms.
pub fn norms_markdown(rows: &[Row]) -> String {
    let Some((columns, lines)) = norms_cells(rows) else {
        return String::new();
    };
    let mut out = format!("\n{NORMS_CAPTION}\n\n| model |");
    for c in &columns {
        out.push_str(&format!(" {c} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    for (m, cells) in lines {
        out.push_str(&format!("| {m} | {} |\n", cells.join(" | ")));
    }
    out
}

/// An evaluation over budgets as RobustBench's `model_info` entry: per
/// model, clean and robust accuracy (percent strings, as RobustBench writes
/// them) at the largest ε, and at every ε, with what was run and the weights'
/// SHA-256. One model gives the entry itself; several, an object by model.
pub fn model_info(v: &EvalResult) -> Result<String, String> {
    if v.rows.iter().any(|r| r.attack.is_some()) {
        return Err("`model_info` needs a budget sweep (`attack …` with `budget sweep […]`), not `attacks each`".into());
    }
    let grid = Grid::new(&v.rows);
    let pct = |a: f64| format!("{:.2}", 100.0 * a);
    let eps_text = |e: f64| format!("{}/255", eps_label(e));
    let mut entries = serde_json::Map::new();
    for m in &grid.models {
        let rows: Vec<&Row> = v.rows.iter().filter(|r| &r.model == m).collect();
        let clean = rows
            .iter()
            .find(|r| r.eps == 0.0)
            .ok_or("`model_info` needs ε 0 in the sweep (the clean accuracy)")?;
        let attacked: Vec<&&Row> = rows.iter().filter(|r| r.eps > 0.0).collect();
        let worst = attacked
            .iter()
            .max_by(|a, b| a.eps.total_cmp(&b.eps))
            .ok_or("`model_info` needs a budget above 0")?;
        let by_eps: serde_json::Map<String, serde_json::Value> = attacked
            .iter()
            .map(|r| (eps_text(r.eps), serde_json::Value::String(pct(r.accuracy))))
            .collect();
        entries.insert(
            m.clone(),
            serde_json::json!({
                "name": m,
                "clean_acc": pct(clean.accuracy),
                "autoattack_acc": pct(worst.accuracy),
                "eps": eps_text(worst.eps),
                "threat_model": "Linf",
                "version": v.attack.as_ref().map(|a| match a["autoattack"].as_str() {
                    Some(version) => version.to_string(),
                    None => "custom (not a published AutoAttack version)".to_string(),
                }),
                "as_run": v.attack.as_ref().map(|a| a["as_run"].clone()),
                "autoattack_acc_by_eps": by_eps,
                "n_clips": clean.n,
                "model_sha256": v.model_files.get(m),
                "attack": v.attack,
                "protocol": v.protocol,
                "through": v.through,
                "defenses": v.defenses.get(m),
                "seed": v.seed,
                "cache_key": v.model_keys.get(m),
                "advp_version": env!("CARGO_PKG_VERSION"),
            }),
        );
    }
    let value = if entries.len() == 1 {
        entries
            .into_iter()
            .next()
            .map(|(_, e)| e)
            .unwrap_or_default()
    } else {
        serde_json::Value::Object(entries)
    };
    serde_json::to_string_pretty(&value).map_err(|e| e.to_string())
}

/// A number as JSON spells it; empty for none.
fn num<T: serde::Serialize>(x: &T) -> String {
    match serde_json::to_value(x) {
        Ok(serde_json::Value::Null) | Err(_) => String::new(),
        Ok(x) => x.to_string(),
    }
}

/// An analysis's numbers as CSV: the surface's grid, the fit's best steps,
/// the gap per epoch, or a certification's clips (one line each).
pub fn analysis_csv(v: &AnalysisResult) -> String {
    match v {
        AnalysisResult::Certify(c) => {
            let mut out = String::from("clip,label,prediction,count,n,p_lower,radius,correct\n");
            for k in &c.clips {
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{}\n",
                    k.clip,
                    k.label,
                    k.prediction.map(|p| p.to_string()).unwrap_or_default(),
                    k.count,
                    c.n,
                    num(&k.p_lower),
                    k.radius.as_ref().map(num).unwrap_or_default(),
                    k.correct
                ));
            }
            out
        }
        AnalysisResult::Surface(s) => {
            let s = &s.surface;
            let mut out = String::from("steps,alpha,loss\n");
            for (m, row) in s.steps.iter().zip(&s.loss) {
                for (a, l) in s.alphas.iter().zip(row) {
                    out.push_str(&format!("{},{},{}\n", num(m), num(a), num(l)));
                }
            }
            out
        }
        AnalysisResult::Fit(f) => {
            let f = &f.fit;
            let mut out = String::from("eps,best_alpha,loss,accuracy,fit_a,fit_b,r2\n");
            for b in &f.best {
                out.push_str(&format!(
                    "{},{},{},{},{},{},{}\n",
                    num(&b.eps),
                    num(&b.alpha),
                    num(&b.loss),
                    num(&b.accuracy),
                    num(&f.a),
                    num(&f.b),
                    num(&f.r2)
                ));
            }
            out
        }
        AnalysisResult::Gap(g) => {
            let mut out = String::from("epoch,eps,train_acc,val_acc,gap\n");
            for (i, e) in g.epoch.iter().enumerate() {
                let at = |c: &[Option<f64>]| c.get(i).map(num).unwrap_or_default();
                out.push_str(&format!(
                    "{},{},{},{},{}\n",
                    num(e),
                    at(&g.eps),
                    at(&g.train_acc),
                    at(&g.val_acc),
                    at(&g.gap)
                ));
            }
            out
        }
    }
}

/// An analysis's CSV as a Markdown table under its node's name.
pub fn csv_markdown(title: &str, csv: &str) -> String {
    let mut lines = csv.lines();
    let Some(head) = lines.next() else {
        return format!("# {title}\n");
    };
    let cols = head.split(',').count();
    let row = |l: &str| format!("| {} |\n", l.split(',').collect::<Vec<_>>().join(" | "));
    let mut out = format!("# {title}\n\n{}|{}\n", row(head), "---|".repeat(cols));
    for l in lines {
        out.push_str(&row(l));
    }
    out
}

/// A certification as Markdown: what was certified and how, and the
/// certified accuracy at each radius (σ/2 apart up to 4σ).
pub fn certify_markdown(title: &str, c: &crate::results::CertifyResult) -> String {
    let mut out = format!(
        "# {title}\n\nRandomized smoothing (Cohen et al. 2019) of `{}` on {} clips of `{}`: σ = {} ([0, 1] pixel units), n₀ = {}, n = {}, α = {}; {} abstained. Certified accuracy (%): the share of clips predicted correctly with a certified L2 radius of at least R ([0, 1] units; 255·R in advp's 0..255 units).\n\n| R |",
        c.model,
        c.clips.len(),
        c.split,
        c.sigma,
        c.n0,
        c.n,
        c.alpha,
        c.abstained
    );
    let shown: Vec<usize> = (0..c.radii.len()).step_by(2).collect();
    for &k in &shown {
        out.push_str(&format!(" {} |", num(&c.radii[k])));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(shown.len()));
    out.push_str("\n| certified accuracy |");
    for &k in &shown {
        out.push_str(&format!(" {:.1} |", 100.0 * c.accuracy[k]));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, eps: f64, acc: f64) -> Row {
        Row {
            accuracy: acc,
            ci_low: None,
            ci_high: None,
            ..Row::counted(model, None, eps, 1.0, (acc * 100.0) as u64, 100)
        }
    }

    #[test]
    fn bold_needs_an_interval_clear_of_the_runner_up() {
        use crate::results::stats::{wilson, Z95};
        let with_ci = |model: &str, k: u64, n: u64| {
            let (lo, hi) = wilson(k, n, Z95);
            Row {
                correct: k,
                n,
                accuracy: k as f64 / n as f64,
                ci_low: Some(lo),
                ci_high: Some(hi),
                ..row(model, 8.0, 0.0)
            }
        };
        // 30/100 against 25/100: intervals overlap, nothing is bold.
        let md = markdown(
            "t",
            &Context::default(),
            &[with_ci("a", 30, 100), with_ci("b", 25, 100)],
        );
        assert!(!md.contains("**"), "{md}");
        assert!(md.contains("| a | 30.0 ± 8.8 |"), "{md}");
        assert!(md.contains("Wilson interval"), "{md}");
        // 60/100 against 25/100: separated, the best is bold.
        let md = markdown(
            "t",
            &Context::default(),
            &[with_ci("a", 60, 100), with_ci("b", 25, 100)],
        );
        assert!(md.contains("| a | **60.0 ± 9.4** |"), "{md}");
    }

    #[test]
    fn markdown_bolds_the_best_of_each_column() {
        let rows = [
            row("a", 0.0, 0.9),
            row("a", 8.0, 0.1),
            row("b", 0.0, 0.6),
            row("b", 8.0, 0.3),
        ];
        let md = markdown("t", &Context::default(), &rows);
        assert!(md.contains("| model | ε = 0 | ε = 8 |"), "{md}");
        assert!(md.contains("| a | **90.0** | 10.0 |"), "{md}");
        assert!(md.contains("| b | 60.0 | **30.0** |"), "{md}");
        let c = csv(&rows, &[3], &Context::default());
        assert_eq!(
            c.lines().nth(2),
            Some("a,,8,1,0.1,10,100,,3,,,1,100,0.1,,,independent,all")
        );
    }

    #[test]
    fn a_table_names_its_attack_each_columns_setting_and_each_rows_defenses() {
        let with = |model: &str, eps: f64, setting: &str| Row {
            setting: Some(setting.into()),
            ..row(model, eps, 0.5)
        };
        let rows = [
            with("a", 0.0, "clean clips (no attack)"),
            with("a", 8.0, "FGSM L∞ ε 8: one signed step of 8"),
            with("h >> a", 0.0, "clean clips (no attack)"),
            with("h >> a", 8.0, "FGSM L∞ ε 8: one signed step of 8"),
        ];
        let cx = Context {
            attack: Some("fgsm".into()),
            protocol: Protocol::Independent,
            defenses: [("h >> a".to_string(), vec!["h".to_string()])].into(),
            ..Context::default()
        };
        let md = markdown("t", &cx, &rows);
        assert!(
            md.contains("Top-1 accuracy (%) under `fgsm` at budget ε"),
            "{md}"
        );
        assert!(
            md.contains("- ε = 8: FGSM L∞ ε 8: one signed step of 8\n"),
            "{md}"
        );
        assert!(md.contains("- ε = 0: clean clips (no attack)\n"), "{md}");
        let c = csv(&rows, &[1], &cx);
        assert_eq!(
            c.lines().nth(4),
            Some("h >> a,fgsm,8,1,0.5,50,100,,1,,,1,100,0.5,FGSM L∞ ε 8: one signed step of 8,h,independent,all")
        );
        // A setting with a comma is one quoted field.
        let quoted = csv(&[with("a", 4.0, "PGD L∞ ε 4, α 1")], &[1], &cx);
        assert!(quoted.contains(",\"PGD L∞ ε 4, α 1\","), "{quoted}");
    }
}
