//! `check(loaded) -> Program`: names, kinds, arguments, schedules and profiles, all errors at once.

use super::ast::*;
use super::builtins::{self, Builtin, GridUse, Param, StmtSpec, Ty, EPS_RANGE};
use super::diagnostic::{nearest, one_of, Code, Diagnostic};
use super::loader::Loaded;
use super::parser;
use super::program::{
    self as prog, Dep, Device, Node, Program, ReportNode, RuleExpr, Settings, Value,
};
use super::schedule::{expand_range, RangeError};
use super::source::{FileId, SourceMap};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What to check beyond the file itself.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--profile NAME`
    pub profile: Option<String>,
    /// `--set key=value`, in order.
    pub sets: Vec<String>,
}

pub struct Outcome {
    pub sources: SourceMap,
    pub program: Option<Program>,
    pub errors: Vec<Diagnostic>,
}

/// Builds the program with the options' profile and overrides applied.
pub fn check(loaded: &Loaded, options: &Options) -> Outcome {
    let mut sources = loaded.sources.clone();
    if !loaded.errors.is_empty() {
        return Outcome {
            sources,
            program: None,
            errors: loaded.errors.clone(),
        };
    }
    let mut c = Checker::new(loaded, &mut sources);
    c.collect();
    if let Some(name) = &options.profile {
        c.apply_profile_named(name);
    }
    for s in &options.sets {
        c.apply_set(s);
    }
    let program = c.finish();
    let mut errors = std::mem::take(&mut c.errors);
    drop(c);
    if errors.is_empty() {
        if let Some(p) = &program {
            errors.extend(super::geometry::check_masks(p));
        }
    }
    let program = program.map(|mut p| {
        p.sources = sources.clone();
        p
    });
    Outcome {
        sources,
        program: if errors.is_empty() { program } else { None },
        errors,
    }
}

/// `advp check`: the file as written and with each of its profiles, errors merged.
pub fn check_all(loaded: &Loaded) -> Outcome {
    let base = check(loaded, &Options::default());
    if !loaded.errors.is_empty() {
        return base;
    }
    let mut errors = base.errors;
    let mut sources = base.sources;
    for profile in profiles_of(loaded) {
        let o = check(
            loaded,
            &Options {
                profile: Some(profile),
                sets: Vec::new(),
            },
        );
        // A profile can close a cycle the base program does not have.
        let cycles = o
            .program
            .as_ref()
            .and_then(|p| crate::graph::plan(p).err())
            .unwrap_or_default();
        for e in o.errors.into_iter().chain(cycles) {
            if !errors.iter().any(|x| x == &e) {
                errors.push(e);
            }
        }
        sources = o.sources;
    }
    errors.sort_by_key(|e| (e.file, e.span.start, e.code));
    Outcome {
        sources,
        program: if errors.is_empty() {
            base.program
        } else {
            None
        },
        errors,
    }
}

pub fn profiles_of(loaded: &Loaded) -> Vec<String> {
    let mut names = Vec::new();
    for (_, m) in &loaded.modules {
        for i in &m.items {
            if let Item::Profile(p) = i {
                if !names.contains(&p.name.name) {
                    names.push(p.name.name.clone());
                }
            }
        }
    }
    names
}

/// A value set from outside the declaration: a profile or `--set`.
#[derive(Clone, Debug)]
struct ArgOverride {
    name: Ident,
    value: Expr,
    file: FileId,
}

#[derive(Clone, Debug)]
struct Entry {
    /// Shared so resolving clones a pointer, not a tree.
    decl: std::rc::Rc<Decl>,
    file: FileId,
    overrides: Vec<ArgOverride>,
}

/// A callee resolved to its built-in and full argument list.
#[derive(Clone, Debug)]
struct Resolved {
    builtin: &'static Builtin,
    args: BTreeMap<String, Value>,
}

struct Checker<'a> {
    loaded: &'a Loaded,
    sources: &'a mut SourceMap,
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    profiles: HashMap<String, (FileId, Profile)>,
    settings: Vec<(FileId, Setting)>,
    reports: Vec<(FileId, Report)>,
    errors: Vec<Diagnostic>,
    memo: HashMap<String, Option<Resolved>>,
    rule_memo: HashMap<String, Option<RuleExpr>>,
    /// Names being resolved, to catch `attack a = b()` / `attack b = a()`.
    stack: Vec<(String, FileId, Span)>,
    /// Edges of the node being resolved.
    deps: Vec<Dep>,
    /// The deps each preset or rule read, merged into the node that declares it.
    preset_deps: HashMap<String, Vec<Dep>>,
    /// The reference being followed, for pointing at the edge that closes a cycle.
    current_ref: Option<Span>,
    /// Defaults resolved once per (argument, text) rather than once per call.
    default_memo: HashMap<(&'static str, &'static str), Value>,
    profile: Option<String>,
}

impl<'a> Checker<'a> {
    fn new(loaded: &'a Loaded, sources: &'a mut SourceMap) -> Self {
        Checker {
            loaded,
            sources,
            entries: Vec::new(),
            index: HashMap::new(),
            profiles: HashMap::new(),
            settings: Vec::new(),
            reports: Vec::new(),
            errors: Vec::new(),
            memo: HashMap::new(),
            rule_memo: HashMap::new(),
            stack: Vec::new(),
            deps: Vec::new(),
            preset_deps: HashMap::new(),
            current_ref: None,
            default_memo: HashMap::new(),
            profile: None,
        }
    }

    fn err(&mut self, d: Diagnostic) {
        if !self.errors.contains(&d) {
            self.errors.push(d);
        }
    }

    fn location(&self, file: FileId, span: Span) -> String {
        let f = self.sources.file(file);
        let (l, c) = f.line_col(span.start);
        format!("{}:{l}:{c}", f.name)
    }

    // ------------------------------------------------------------ collecting

    fn collect(&mut self) {
        let loaded = self.loaded;
        // Imports first, so a clash with an imported name is reported in the user's file.
        let order = loaded
            .modules
            .iter()
            .skip(1)
            .chain(loaded.modules.iter().take(1));
        for (file, module) in order {
            let mut seen_settings: HashMap<SettingKey, Span> = HashMap::new();
            for item in &module.items {
                match item {
                    Item::Decl(d) => self.add_decl(d, *file),
                    Item::Setting(s) => {
                        if let Some(first) = seen_settings.insert(s.key, s.span) {
                            self.err(
                                Diagnostic::new(
                                    Code::DuplicateSetting,
                                    *file,
                                    s.span,
                                    format!("`{}` is set twice", s.key.as_str()),
                                )
                                .label("set again here")
                                .also(first, "first set here")
                                .help("keep one; a profile or `--set` can change it for one run"),
                            );
                        }
                        self.settings.push((*file, s.clone()));
                    }
                    Item::Report(r) => self.reports.push((*file, r.clone())),
                    Item::Profile(p) => {
                        if let Some((f0, p0)) = self.profiles.get(&p.name.name) {
                            let d = Diagnostic::new(
                                Code::DuplicateProfile,
                                *file,
                                p.name.span,
                                format!("profile `{}` is defined twice", p.name.name),
                            )
                            .label("defined again here");
                            let d = if *f0 == *file {
                                d.also(p0.name.span, "first defined here")
                            } else {
                                d
                            };
                            let help = format!(
                                "merge the two, or rename one (the first is at {})",
                                self.location(*f0, p0.name.span)
                            );
                            self.err(d.help(help));
                        } else {
                            self.profiles
                                .insert(p.name.name.clone(), (*file, p.clone()));
                        }
                    }
                    Item::Use(_) => {}
                }
            }
        }
    }

    fn add_decl(&mut self, d: &Decl, file: FileId) {
        if builtins::lookup(&d.name.name).is_some() {
            self.err(
                Diagnostic::new(
                    Code::ShadowsBuiltin,
                    file,
                    d.name.span,
                    format!("`{}` is the name of a built-in", d.name.name),
                )
                .label("this name would hide the built-in")
                .help(format!(
                    "choose another name, e.g. `my_{}`; calls such as `{}(…)` then still reach the built-in",
                    d.name.name, d.name.name
                )),
            );
            return;
        }
        if let Some(&i) = self.index.get(&d.name.name) {
            let first = &self.entries[i];
            let (ffile, fspan) = (first.file, first.decl.name.span);
            let mut diag = Diagnostic::new(
                Code::DuplicateName,
                file,
                d.name.span,
                format!("`{}` is declared twice", d.name.name),
            )
            .label("declared again here");
            if ffile == file {
                diag = diag.also(fspan, "first declared here");
            }
            let help = format!(
                "names are unique across a file and its imports; rename one (the first is at {})",
                self.location(ffile, fspan)
            );
            self.err(diag.help(help));
            return;
        }
        self.index.insert(d.name.name.clone(), self.entries.len());
        self.entries.push(Entry {
            decl: std::rc::Rc::new(d.clone()),
            file,
            overrides: Vec::new(),
        });
    }

    // -------------------------------------------------------------- profiles

    fn apply_profile_named(&mut self, name: &str) {
        self.profile = Some(name.to_string());
        let Some((file, profile)) = self.profiles.get(name).cloned() else {
            let text = format!("--profile {name}");
            let id = self.sources.add("<command line>", None, text.clone());
            let names: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            let mut sorted = names.clone();
            sorted.sort();
            let help = match nearest(name, names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`?"),
                None if sorted.is_empty() => "this file defines no profiles".to_string(),
                None => format!("this file defines {}", one_of(&sorted)),
            };
            self.err(
                Diagnostic::new(
                    Code::UnknownProfile,
                    id,
                    Span::new(10, text.len()),
                    format!("no profile named `{name}`"),
                )
                .label("unknown profile")
                .help(help),
            );
            return;
        };
        for entry in &profile.entries {
            match entry {
                ProfileEntry::Decl(d) => self.replace_decl(d, file, &profile.name.name),
                ProfileEntry::Setting(s) => self.settings.push((file, s.clone())),
                ProfileEntry::Override(o) => self.apply_override(&o.path, &o.value, file, o.span),
            }
        }
    }

    fn replace_decl(&mut self, d: &Decl, file: FileId, profile: &str) {
        let Some(&i) = self.index.get(&d.name.name) else {
            let help = match nearest(&d.name.name, self.index.keys().map(String::as_str)) {
                Some(n) => format!("did you mean `{n}`? a profile replaces declarations of the same name"),
                None => "a profile replaces declarations of the same name; declare the node outside the profile first".to_string(),
            };
            self.err(
                Diagnostic::new(
                    Code::UnknownOverride,
                    file,
                    d.name.span,
                    format!(
                        "profile `{profile}` replaces `{}`, which is not declared",
                        d.name.name
                    ),
                )
                .label("replaces nothing")
                .help(help),
            );
            return;
        };
        let old_kind = self.entries[i].decl.kind;
        if old_kind != d.kind {
            self.err(
                Diagnostic::new(
                    Code::WrongKind,
                    file,
                    d.kind_span,
                    format!(
                        "`{}` is a {} node, but the profile declares it as {}",
                        d.name.name, old_kind, d.kind
                    ),
                )
                .label(format!("expected `{old_kind}`"))
                .help(format!("write `{old_kind} {} = …`", d.name.name)),
            );
            return;
        }
        self.entries[i] = Entry {
            decl: std::rc::Rc::new(d.clone()),
            file,
            overrides: Vec::new(),
        };
    }

    /// The built-in an entry ends up calling, following presets.
    fn builtin_of_entry(&self, i: usize) -> Option<&'static Builtin> {
        let mut e = &self.entries[i];
        for _ in 0..64 {
            let callee = match &e.decl.value.kind {
                ExprKind::Call { callee, .. } => &callee.name,
                ExprKind::Path(p) if p.len() == 1 => &p[0].name,
                _ => return None,
            };
            if let Some(&j) = self.index.get(callee) {
                e = &self.entries[j];
            } else {
                return builtins::lookup(callee);
            }
        }
        None
    }

    fn apply_override(&mut self, path: &[Ident], value: &Expr, file: FileId, span: Span) {
        if path.len() != 2 {
            self.err(
                Diagnostic::new(Code::UnknownOverride, file, span, "an override names two parts")
                    .label("expected `kind.argument` or `node.argument`")
                    .help("write e.g. `train.epochs = 8` (every train node) or `at.epochs = 8` (one node)"),
            );
            return;
        }
        let (head, arg) = (&path[0], &path[1]);
        let targets: Vec<usize> = if let Some(kind) = DeclKind::parse(&head.name) {
            (0..self.entries.len())
                .filter(|&i| self.entries[i].decl.kind == kind)
                .collect()
        } else if let Some(&i) = self.index.get(&head.name) {
            vec![i]
        } else {
            let mut candidates: Vec<&str> = self.index.keys().map(String::as_str).collect();
            candidates.extend(DeclKind::ALL.iter().map(|k| k.as_str()));
            let help = match nearest(&head.name, candidates) {
                Some(n) => format!("did you mean `{n}`?"),
                None => "name a declaration (`at.epochs`) or a kind (`train.epochs`)".to_string(),
            };
            self.err(
                Diagnostic::new(
                    Code::UnknownOverride,
                    file,
                    head.span,
                    format!("`{}` names no node and no kind", head.name),
                )
                .label("overrides nothing")
                .help(help),
            );
            return;
        };
        let mut accepted: Vec<&str> = Vec::new();
        let mut applied = 0;
        for &i in &targets {
            let Some(b) = self.builtin_of_entry(i) else {
                continue;
            };
            if b.param(&arg.name).is_some() {
                self.entries[i].overrides.push(ArgOverride {
                    name: arg.clone(),
                    value: value.clone(),
                    file,
                });
                applied += 1;
            } else {
                accepted.extend(b.params.iter().map(|p| p.name));
            }
        }
        if applied == 0 {
            accepted.sort();
            accepted.dedup();
            let is_stmt = builtins::all_stmt_keys().contains(&arg.name.as_str());
            let help = if is_stmt {
                format!("`{}` is a block statement; overrides set arguments — replace the declaration in the profile instead", arg.name)
            } else if let Some(n) = nearest(&arg.name, accepted.iter().copied()) {
                format!("did you mean `{n}`?")
            } else if accepted.is_empty() {
                format!("there is no `{}` node to override", head.name)
            } else {
                format!("the arguments are {}", one_of(&accepted))
            };
            self.err(
                Diagnostic::new(
                    Code::UnknownOverride,
                    file,
                    arg.span,
                    format!("no `{}` takes an argument `{}`", head.name, arg.name),
                )
                .label("overrides nothing")
                .help(help),
            );
        }
    }

    /// `--set key=value`: `seed=3`, `train.epochs=2`, `at.lr=0.1`.
    fn apply_set(&mut self, text: &str) {
        let id = self
            .sources
            .add(format!("<--set {text}>"), None, text.to_string());
        let Some((key, value)) = text.split_once('=') else {
            self.err(
                Diagnostic::new(
                    Code::InvalidSet,
                    id,
                    Span::new(0, text.len()),
                    "`--set` takes `key=value`",
                )
                .label("no `=` here")
                .help("write e.g. `--set train.epochs=2` or `--set seed=3`"),
            );
            return;
        };
        let value_start = key.len() + 1;
        // A device is not an expression (`cuda:1`); it is read from the text below.
        let is_device = key.trim() == "device";
        let expr = match parser::parse_expr(if is_device { "0" } else { value }, id) {
            Ok(mut e) => {
                shift_spans(&mut e, value_start);
                e
            }
            Err(errs) => {
                for mut e in errs {
                    e.span = Span::new(e.span.start + value_start, e.span.end + value_start);
                    self.err(e);
                }
                return;
            }
        };
        let mut path = Vec::new();
        let mut at = 0;
        for part in key.split('.') {
            let valid = !part.is_empty()
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !part.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                self.err(
                    Diagnostic::new(
                        Code::InvalidSet,
                        id,
                        Span::new(at, at + part.len()),
                        format!("`{part}` is not a name"),
                    )
                    .label("expected a name")
                    .help("keys look like `seed`, `train.epochs` or `at.lr`"),
                );
                return;
            }
            path.push(Ident {
                name: part.to_string(),
                span: Span::new(at, at + part.len()),
            });
            at += part.len() + 1;
        }
        let span = Span::new(0, text.len());
        if path.len() == 1 {
            let key = match path[0].name.as_str() {
                "seed" => SettingKey::Seed,
                "threads" => SettingKey::Threads,
                "device" => SettingKey::Device,
                other => {
                    let help = match nearest(other, ["seed", "threads", "device"]) {
                        Some(n) => format!("did you mean `{n}`?"),
                        None => "a one-part key is `seed`, `threads` or `device`; arguments are `kind.argument` or `node.argument`".into(),
                    };
                    self.err(
                        Diagnostic::new(
                            Code::InvalidSet,
                            id,
                            path[0].span,
                            format!("`{other}` is not a setting"),
                        )
                        .label("unknown setting")
                        .help(help),
                    );
                    return;
                }
            };
            let value = if key == SettingKey::Device {
                SettingValue::Device(Ident {
                    name: value.trim().to_string(),
                    span: Span::new(value_start, text.len()),
                })
            } else {
                SettingValue::Expr(expr)
            };
            self.settings.push((id, Setting { key, value, span }));
        } else {
            self.apply_override(&path, &expr, id, span);
        }
    }

    // ------------------------------------------------------------- resolving

    fn finish(&mut self) -> Option<Program> {
        let settings = self.resolve_settings();
        let mut nodes: Vec<Option<Node>> = Vec::new();
        for i in 0..self.entries.len() {
            nodes.push(self.resolve_entry(i));
        }
        let reports = self.resolve_reports();
        // The main file's nodes, the report targets and everything they read.
        let main = self.loaded.main;
        let mut keep: HashSet<String> = HashSet::new();
        let mut todo: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.file == main || self.sources.file(e.file).name.starts_with("<"))
            .map(|e| e.decl.name.name.clone())
            .collect();
        // Profile declarations live in the main file too; keep what the main file declares.
        todo.extend(reports.iter().map(|r| r.target.clone()));
        while let Some(n) = todo.pop() {
            if !keep.insert(n.clone()) {
                continue;
            }
            if let Some(&i) = self.index.get(&n) {
                if let Some(node) = &nodes[i] {
                    todo.extend(node.deps.iter().map(|d| d.name.clone()));
                }
            }
        }
        let profiles = {
            let mut p: Vec<String> = self.profiles.keys().cloned().collect();
            p.sort();
            p
        };
        if !self.errors.is_empty() {
            return None;
        }
        let nodes = nodes
            .into_iter()
            .flatten()
            .filter(|n| keep.contains(&n.name))
            .collect();
        Some(Program {
            sources: SourceMap::default(),
            main,
            settings,
            nodes,
            reports,
            profile: self.profile.clone(),
            profiles,
        })
    }

    fn resolve_settings(&mut self) -> Settings {
        let mut s = Settings::default();
        // Imported files first, then the main file, then profile and --set (pushed last).
        let main = self.loaded.main;
        let mut ordered: Vec<(FileId, Setting)> = self.settings.clone();
        ordered.sort_by_key(|(f, _)| {
            if *f == main {
                1
            } else if f.0 < self.loaded.sources.len() {
                0
            } else {
                2
            }
        });
        for (file, setting) in ordered {
            match (&setting.key, &setting.value) {
                (SettingKey::Seed, SettingValue::Expr(e)) => {
                    if let Some(v) = self.int_value(e, file, (0.0, 9.007e15), "the seed") {
                        s.seed = v as u64;
                    }
                }
                (SettingKey::Threads, SettingValue::Expr(e)) => {
                    if let Some(v) = self.int_value(e, file, (1.0, 4096.0), "threads") {
                        s.threads = Some(v as usize);
                    }
                }
                (SettingKey::Device, SettingValue::Device(d)) => match parse_device(&d.name) {
                    Some(dev) => s.device = dev,
                    None => {
                        let guess = match d.name.as_str() {
                            "gpu" | "cuda0" => Some("cuda"),
                            n if n.starts_with("cuda") || n.starts_with("gpu") => Some("cuda:N"),
                            n => nearest(n, ["auto", "cpu", "cuda"]),
                        };
                        let help = match guess {
                            Some(n) => format!("did you mean `{n}`? devices are `auto`, `cpu`, `cuda` and `cuda:N`"),
                            None => "devices are `auto`, `cpu`, `cuda` and `cuda:N`".to_string(),
                        };
                        self.err(
                            Diagnostic::new(
                                Code::InvalidDevice,
                                file,
                                d.span,
                                format!("unknown device `{}`", d.name),
                            )
                            .label("not a device")
                            .help(help),
                        );
                    }
                },
                _ => {}
            }
        }
        s
    }

    fn int_value(&mut self, e: &Expr, file: FileId, range: (f64, f64), what: &str) -> Option<i64> {
        let v = self.number(e, file)?;
        if v.fract() != 0.0 {
            self.err(
                Diagnostic::new(
                    Code::TypeMismatch,
                    file,
                    e.span,
                    format!("{what} must be a whole number"),
                )
                .label(format!("found {v}"))
                .help(format!("write {}", v.round())),
            );
            return None;
        }
        self.check_range(v, range, e.span, file, what)?;
        Some(v as i64)
    }

    fn check_range(
        &mut self,
        v: f64,
        (lo, hi): (f64, f64),
        span: Span,
        file: FileId,
        what: &str,
    ) -> Option<()> {
        if v >= lo && v <= hi {
            return Some(());
        }
        // Counts have no real upper bound; say "at least" rather than print it.
        let (message, label, help) = if v < lo && hi >= 1e9 {
            (
                format!("{what} must be at least {lo}"),
                format!("{v} is too small"),
                format!("use {lo} or more"),
            )
        } else {
            let unit = if (lo, hi) == EPS_RANGE {
                " (budgets and step sizes are in 0..255 pixel units: `eps 8` means 8/255)"
            } else {
                ""
            };
            (
                format!("{what} must be between {lo} and {hi}"),
                format!("{v} is out of range"),
                format!("use a value from {lo} to {hi}{unit}"),
            )
        };
        self.err(
            Diagnostic::new(Code::OutOfRange, file, span, message)
                .label(label)
                .help(help),
        );
        None
    }

    fn division_by_zero(&mut self, file: FileId, span: Span) {
        self.err(
            Diagnostic::new(Code::DivisionByZero, file, span, "division by zero")
                .label("this is zero")
                .help("divide by a non-zero number"),
        );
    }

    /// A constant number: literals and arithmetic of literals.
    fn number(&mut self, e: &Expr, file: FileId) -> Option<f64> {
        match const_eval(e) {
            Ok(v) => Some(v),
            Err(ConstError::DivZero(span)) => {
                self.division_by_zero(file, span);
                None
            }
            Err(ConstError::NotConst) => {
                self.err(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        file,
                        e.span,
                        format!("expected a number, found {}", e.describe()),
                    )
                    .label("not a number")
                    .help("write a number such as `8` or `0.25`, or arithmetic of numbers"),
                );
                None
            }
        }
    }

    fn resolve_entry(&mut self, i: usize) -> Option<Node> {
        let e = self.entries[i].clone();
        let name = e.decl.name.name.clone();
        self.deps.clear();
        let (builtin, args) = match e.decl.kind {
            DeclKind::Rule => {
                if let Some(b) = &e.decl.block {
                    self.no_block(b, e.file, "a rule");
                }
                let r = self.rule_of(&name)?;
                (
                    "rule".to_string(),
                    BTreeMap::from([("value".to_string(), Value::Rule(r))]),
                )
            }
            _ => {
                let r = self.preset(&name)?;
                (r.builtin.name.to_string(), r.args)
            }
        };
        let mut deps = std::mem::take(&mut self.deps);
        let stmts = match (&e.decl.block, builtins::lookup(&builtin)) {
            (Some(block), Some(b)) => self.resolve_stmts(b, block, e.file),
            _ => BTreeMap::new(),
        };
        deps.append(&mut self.deps);
        // Preset chains record their own deps; collect what this node's value read.
        if let Some(memo_deps) = self.preset_deps.get(&name) {
            for d in memo_deps {
                if !deps.iter().any(|x| x.name == d.name && x.span == d.span) {
                    deps.push(d.clone());
                }
            }
        }
        Some(Node {
            name,
            kind: e.decl.kind,
            builtin,
            args,
            stmts,
            deps,
            file: e.file,
            span: e.decl.span,
            name_span: e.decl.name.span,
        })
    }

    fn no_block(&mut self, block: &Block, file: FileId, what: &str) {
        self.err(
            Diagnostic::new(
                Code::UnknownStatement,
                file,
                block.span,
                format!("{what} takes no block"),
            )
            .label("unexpected block")
            .help("remove the `{ … }`"),
        );
    }

    /// Resolves a declared name to its built-in call (memoised; cycles reported).
    fn preset(&mut self, name: &str) -> Option<Resolved> {
        if let Some(r) = self.memo.get(name) {
            return r.clone();
        }
        let &i = self.index.get(name)?;
        let e = self.entries[i].clone();
        if self.in_cycle(name) {
            return None;
        }
        self.stack
            .push((name.to_string(), e.file, e.decl.name.span));
        let outer = std::mem::take(&mut self.deps);
        let r = self.decl_value(&e);
        let mine = std::mem::replace(&mut self.deps, outer);
        self.preset_deps.insert(name.to_string(), mine);
        self.stack.pop();
        self.memo.insert(name.to_string(), r.clone());
        r
    }

    fn in_cycle(&mut self, name: &str) -> bool {
        let Some(pos) = self.stack.iter().position(|(n, _, _)| n == name) else {
            return false;
        };
        let mut path: Vec<String> = self.stack[pos..]
            .iter()
            .map(|(n, _, _)| n.clone())
            .collect();
        path.push(name.to_string());
        let (_, last_file, last_span) = self.stack.last().cloned().expect("non-empty stack");
        self.err(
            Diagnostic::new(Code::Cycle, last_file, self.current_ref.unwrap_or(last_span), format!("dependency cycle: {}", path.join(" → ")))
                .label("this reference closes the cycle")
                .help("a declaration cannot depend on itself; break the cycle by calling a built-in directly"),
        );
        // Everything on the cycle is poisoned so it is reported once.
        for n in &path {
            self.memo.insert(n.clone(), None);
            self.rule_memo.insert(n.clone(), None);
        }
        true
    }

    fn decl_value(&mut self, e: &Entry) -> Option<Resolved> {
        let kind = e.decl.kind;
        let v = &e.decl.value;
        let (callee, args): (&Ident, &[Arg]) = match &v.kind {
            ExprKind::Call { callee, args } => (callee, args),
            ExprKind::Path(p) if p.len() == 1 => (&p[0], &[]),
            _ => {
                let example = match kind {
                    DeclKind::Data => "synthetic(classes: 10)",
                    DeclKind::Model => "c3d_small(classes: 10)",
                    DeclKind::Attack => "pgd(steps: 10)",
                    DeclKind::Defense => "video_compression(crf: 28)",
                    DeclKind::Train => "standard(net, data)",
                    DeclKind::Eval => "robustness([net], data.test)",
                    DeclKind::Analyze => "loss_surface(net, data.test)",
                    DeclKind::Rule => "0.2 * (eps + 1)",
                };
                self.err(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        e.file,
                        v.span,
                        format!(
                            "a `{kind}` declaration needs a call, found {}",
                            v.describe()
                        ),
                    )
                    .label("expected a call")
                    .help(format!(
                        "write e.g. `{kind} {} = {example}`",
                        e.decl.name.name
                    )),
                );
                return None;
            }
        };
        self.call(callee, args, &e.overrides, e.file, v.span, Some(kind))
    }

    /// Resolves `callee(args)`: a built-in, or a declared preset with some arguments changed.
    fn call(
        &mut self,
        callee: &Ident,
        args: &[Arg],
        overrides: &[ArgOverride],
        file: FileId,
        span: Span,
        want: Option<DeclKind>,
    ) -> Option<Resolved> {
        let (builtin, base) = if let Some(&i) = self.index.get(&callee.name) {
            let kind = self.entries[i].decl.kind;
            if !matches!(
                kind,
                DeclKind::Data | DeclKind::Model | DeclKind::Attack | DeclKind::Defense
            ) {
                self.err(
                    Diagnostic::new(
                        Code::NotCallable,
                        file,
                        callee.span,
                        format!("`{}` is a {kind} node and cannot be called", callee.name),
                    )
                    .label("not callable")
                    .help(format!("pass `{}` as a value, without `(…)`", callee.name)),
                );
                return None;
            }
            self.current_ref = Some(callee.span);
            self.deps.push(Dep {
                name: callee.name.clone(),
                span: callee.span,
                file,
            });
            let r = self.preset(&callee.name);
            self.current_ref = None;
            let r = r?;
            (r.builtin, Some(r.args))
        } else if let Some(b) = builtins::lookup(&callee.name) {
            (b, None)
        } else {
            let mut names: Vec<&str> = builtins::BUILTINS
                .iter()
                .filter(|b| want.is_none_or(|k| b.kind == k))
                .map(|b| b.name)
                .collect();
            names.extend(
                self.entries
                    .iter()
                    .filter(|e| want.is_none_or(|k| e.decl.kind == k))
                    .map(|e| e.decl.name.name.as_str()),
            );
            let help = match nearest(&callee.name, names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`?"),
                None => {
                    let mut b: Vec<&str> = builtins::BUILTINS
                        .iter()
                        .filter(|b| want.is_none_or(|k| b.kind == k))
                        .map(|b| b.name)
                        .collect();
                    b.sort();
                    format!("the built-ins here are {}", one_of(&b))
                }
            };
            self.err(
                Diagnostic::new(
                    Code::UnknownFunction,
                    file,
                    callee.span,
                    format!("unknown function `{}`", callee.name),
                )
                .label("not a built-in or a declared preset")
                .help(help),
            );
            return None;
        };
        if let Some(k) = want {
            if builtin.kind != k {
                self.err(
                    Diagnostic::new(
                        Code::WrongKind,
                        file,
                        callee.span,
                        format!(
                            "`{}` makes {}, not {}",
                            callee.name,
                            article(builtin.kind),
                            article(k)
                        ),
                    )
                    .label(format!("a {} built-in", builtin.kind))
                    .help(format!(
                        "declare it as `{} … = {}(…)`, or call a {k} built-in",
                        builtin.kind, callee.name
                    )),
                );
                return None;
            }
        }
        let args = self.bind(builtin, base, args, overrides, file, span, &callee.name)?;
        Some(Resolved { builtin, args })
    }

    #[allow(clippy::too_many_arguments)]
    fn bind(
        &mut self,
        b: &'static Builtin,
        base: Option<BTreeMap<String, Value>>,
        args: &[Arg],
        overrides: &[ArgOverride],
        file: FileId,
        span: Span,
        shown: &str,
    ) -> Option<BTreeMap<String, Value>> {
        let mut out: BTreeMap<String, Value> = BTreeMap::new();
        let mut given: HashMap<&str, Span> = HashMap::new();
        let mut ok = true;
        let mut next_positional = 0;
        let mut named_at: Option<Span> = None;
        for a in args {
            let param: &Param = match &a.name {
                None => {
                    if let Some(n) = named_at {
                        self.err(
                            Diagnostic::new(
                                Code::PositionalAfterNamed,
                                file,
                                a.span,
                                "a positional argument after a named one",
                            )
                            .label("positional")
                            .also(n, "named argument before it")
                            .help("put positional arguments first, or name this one"),
                        );
                        ok = false;
                        continue;
                    }
                    let Some(p) = b.params.get(next_positional) else {
                        let names: Vec<&str> = b.params.iter().map(|p| p.name).collect();
                        self.err(
                            Diagnostic::new(
                                Code::TooManyArguments,
                                file,
                                a.span,
                                format!(
                                    "`{shown}` takes at most {} argument{}",
                                    b.params.len(),
                                    if b.params.len() == 1 { "" } else { "s" }
                                ),
                            )
                            .label("one too many")
                            .help(format!("its arguments are {}", one_of(&names))),
                        );
                        ok = false;
                        continue;
                    };
                    next_positional += 1;
                    p
                }
                Some(n) => {
                    named_at = Some(a.span);
                    match b.param(&n.name) {
                        Some(p) => p,
                        None => {
                            let names: Vec<&str> = b.params.iter().map(|p| p.name).collect();
                            let help = match nearest(&n.name, names.iter().copied()) {
                                Some(s) => format!(
                                    "did you mean `{s}`? `{shown}` takes {}",
                                    one_of(&names)
                                ),
                                None => format!("`{shown}` takes {}", one_of(&names)),
                            };
                            self.err(
                                Diagnostic::new(
                                    Code::UnknownArgument,
                                    file,
                                    n.span,
                                    format!("`{shown}` has no argument `{}`", n.name),
                                )
                                .label("unknown argument")
                                .help(help),
                            );
                            ok = false;
                            continue;
                        }
                    }
                }
            };
            if let Some(first) = given.insert(param.name, a.span) {
                self.err(
                    Diagnostic::new(
                        Code::DuplicateArgument,
                        file,
                        a.span,
                        format!("`{}` is given twice", param.name),
                    )
                    .label("given again here")
                    .also(first, "first given here")
                    .help("keep one of them"),
                );
                ok = false;
                continue;
            }
            // A profile's override replaces this argument: the original value
            // (checked with the base file) must leave no edge in the graph.
            if overrides.iter().any(|o| o.name.name == param.name) {
                continue;
            }
            match self.value(param, &a.value, file) {
                Some(v) => {
                    out.insert(param.name.to_string(), v);
                }
                None => ok = false,
            }
        }
        for o in overrides {
            if let Some(param) = b.param(&o.name.name) {
                match self.value(param, &o.value, o.file) {
                    Some(v) => {
                        out.insert(param.name.to_string(), v);
                    }
                    None => ok = false,
                }
            }
        }
        for p in b.params {
            // A given argument whose value was rejected is reported once, not also as missing.
            if out.contains_key(p.name) || given.contains_key(p.name) {
                continue;
            }
            if let Some(v) = base.as_ref().and_then(|m| m.get(p.name)) {
                out.insert(p.name.to_string(), v.clone());
                continue;
            }
            match p.default {
                builtins::Default::Text(t) => {
                    if let Some(v) = self.default_value(p, t) {
                        out.insert(p.name.to_string(), v);
                    }
                }
                builtins::Default::Absent => {}
                builtins::Default::Required => {
                    self.err(
                        Diagnostic::new(
                            Code::MissingArgument,
                            file,
                            span,
                            format!("`{shown}` needs the argument `{}`", p.name),
                        )
                        .label(format!("`{}` missing", p.name))
                        .help(format!(
                            "add `{}: …` ({}: {})",
                            p.name,
                            p.ty.describe(),
                            p.doc
                        )),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// A default from the built-in table, parsed and resolved like user text.
    fn default_value(&mut self, p: &Param, text: &'static str) -> Option<Value> {
        if let Some(v) = self.default_memo.get(&(p.name, text)) {
            return Some(v.clone());
        }
        let id = self
            .sources
            .add(format!("<default of {}>", p.name), None, text.to_string());
        let e = parser::parse_expr(text, id).ok()?;
        let saved = std::mem::take(&mut self.deps);
        let v = self.value(p, &e, id);
        self.deps = saved;
        if let Some(v) = &v {
            self.default_memo.insert((p.name, text), v.clone());
        }
        v
    }

    /// Checks one argument against its type; the resolved value on success.
    fn value(&mut self, p: &Param, e: &Expr, file: FileId) -> Option<Value> {
        let what = format!("`{}`", p.name);
        if let ExprKind::Paren(inner) = &e.kind {
            if !matches!(p.ty, Ty::Int | Ty::Num) {
                return self.value(p, inner, file);
            }
        }
        match p.ty {
            Ty::Int => {
                if let ExprKind::Path(path) = &e.kind {
                    return self.field_number(path, file);
                }
                let v = self.int_value(e, file, p.range.unwrap_or((f64::MIN, f64::MAX)), &what)?;
                Some(Value::Int(v))
            }
            Ty::Num => {
                let v = self.number(e, file)?;
                if let Some(r) = p.range {
                    self.check_range(v, r, e.span, file, &what)?;
                }
                Some(Value::Num(v))
            }
            Ty::Str => match &e.kind {
                ExprKind::Str(s) => Some(Value::Str(s.clone())),
                _ => self.mismatch(e, file, &p.ty, "write it in double quotes: \"…\""),
            },
            Ty::Bool => match &e.kind {
                ExprKind::Bool(b) => Some(Value::Bool(*b)),
                _ => self.mismatch(e, file, &p.ty, "write `true` or `false`"),
            },
            Ty::Choice(choices) => {
                let word = match &e.kind {
                    ExprKind::Path(path) if path.len() == 1 => Some(path[0].name.clone()),
                    ExprKind::Str(s) => Some(s.clone()),
                    _ => None,
                };
                match word {
                    Some(w) if choices.contains(&w.as_str()) => Some(Value::Choice(w)),
                    Some(w) => self.bad_choice(&w, e.span, file, &what, choices),
                    None => {
                        self.mismatch(e, file, &p.ty, &format!("write one of {}", one_of(choices)))
                    }
                }
            }
            Ty::IntChoice(choices) => {
                let v = self.number(e, file)?;
                if choices.iter().any(|c| *c as f64 == v) {
                    Some(Value::Int(v as i64))
                } else {
                    let names: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
                    self.err(
                        Diagnostic::new(
                            Code::InvalidChoice,
                            file,
                            e.span,
                            format!("{what} cannot be {v}"),
                        )
                        .label("not an accepted value")
                        .help(format!("use {}", one_of(&names))),
                    );
                    None
                }
            }
            Ty::Norm => match &e.kind {
                ExprKind::Inf => Some(Value::Inf),
                ExprKind::Number { value, .. } if *value == 2.0 => Some(Value::Int(*value as i64)),
                ExprKind::Number { .. } => {
                    self.err(
                        Diagnostic::new(
                            Code::InvalidChoice,
                            file,
                            e.span,
                            format!(
                                "`norm` cannot be {}",
                                snippet(self.sources.text(file), e.span)
                            ),
                        )
                        .label("not a supported norm")
                        .help("use `inf` or `2`"),
                    );
                    None
                }
                _ => self.mismatch(e, file, &p.ty, "use `inf` or `2`"),
            },
            Ty::Position => match &e.kind {
                ExprKind::Path(path) if path.len() == 1 => {
                    let w = &path[0].name;
                    let choices = &["random", "top_left", "center"];
                    if choices.contains(&w.as_str()) {
                        Some(Value::Choice(w.clone()))
                    } else {
                        self.bad_choice(w, e.span, file, &what, choices)
                    }
                }
                ExprKind::List(items) if items.len() == 2 => {
                    let mut out = Vec::new();
                    for it in items {
                        out.push(Value::Int(self.int_value(
                            it,
                            file,
                            (0.0, 1e6),
                            "a position",
                        )?));
                    }
                    Some(Value::List(out))
                }
                _ => self.mismatch(
                    e,
                    file,
                    &p.ty,
                    "write `random`, `top_left`, `center` or `[y, x]` in pixels",
                ),
            },
            Ty::NumList(n) => {
                let ExprKind::List(items) = &e.kind else {
                    return self.mismatch(e, file, &p.ty, "write a list such as `[0.7, 0.3]`");
                };
                if n > 0 && items.len() != n {
                    self.err(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            file,
                            e.span,
                            format!("{what} takes {n} numbers, found {}", items.len()),
                        )
                        .label(format!("{} numbers", items.len()))
                        .help(format!(
                            "write {n} numbers, e.g. the default `{}`",
                            default_text(p)
                        )),
                    );
                    return None;
                }
                let mut out = Vec::new();
                for it in items {
                    let v = self.number(it, file)?;
                    if let Some(r) = p.range {
                        self.check_range(v, r, it.span, file, &what)?;
                    }
                    out.push(Value::Num(v));
                }
                Some(Value::List(out))
            }
            Ty::Numbers => {
                let nums = self.numbers(e, file, p.range, &what)?;
                Some(Value::List(nums.into_iter().map(Value::Num).collect()))
            }
            Ty::Data | Ty::Defense | Ty::Train => {
                let kind = match p.ty {
                    Ty::Data => DeclKind::Data,
                    Ty::Defense => DeclKind::Defense,
                    _ => DeclKind::Train,
                };
                self.node_ref(e, file, &[kind], &p.ty)
            }
            Ty::Model => self.model(e, file),
            Ty::Models => match &e.kind {
                ExprKind::List(items) => {
                    if items.is_empty() {
                        self.err(
                            Diagnostic::new(Code::Empty, file, e.span, "no models to evaluate")
                                .label("empty list")
                                .help("list the models, e.g. `[benign, at]`"),
                        );
                        return None;
                    }
                    let mut out = Vec::new();
                    let mut ok = true;
                    for it in items {
                        match self.model(it, file) {
                            Some(v) => out.push(v),
                            None => ok = false,
                        }
                    }
                    ok.then_some(Value::List(out))
                }
                _ => {
                    let v = self.model(e, file)?;
                    Some(Value::List(vec![v]))
                }
            },
            Ty::Split => self.split(e, file),
            Ty::Attack => self.attack(e, file, false),
        }
    }

    fn mismatch(&mut self, e: &Expr, file: FileId, ty: &Ty, help: &str) -> Option<Value> {
        self.err(
            Diagnostic::new(
                Code::TypeMismatch,
                file,
                e.span,
                format!("expected {}, found {}", ty.describe(), e.describe()),
            )
            .label(format!("expected {}", ty.describe()))
            .help(help.to_string()),
        );
        None
    }

    fn bad_choice(
        &mut self,
        w: &str,
        span: Span,
        file: FileId,
        what: &str,
        choices: &[&str],
    ) -> Option<Value> {
        let help = match nearest(w, choices.iter().copied()) {
            Some(n) => format!("did you mean `{n}`? {what} is one of {}", one_of(choices)),
            None => format!("{what} is one of {}", one_of(choices)),
        };
        self.err(
            Diagnostic::new(
                Code::InvalidChoice,
                file,
                span,
                format!("{what} cannot be `{w}`"),
            )
            .label("not an accepted value")
            .help(help),
        );
        None
    }

    /// Numbers from a range, list or set, each within `range`.
    fn numbers(
        &mut self,
        e: &Expr,
        file: FileId,
        range: Option<(f64, f64)>,
        what: &str,
    ) -> Option<Vec<f64>> {
        let values = match &e.kind {
            ExprKind::Range { start, end, step } => {
                self.range(start, end, step.as_ref(), file, e.span)?
            }
            ExprKind::List(items) | ExprKind::Set(items) => {
                let mut out = Vec::new();
                for it in items {
                    out.push(self.number(it, file)?);
                }
                out
            }
            _ => {
                let v = self.number(e, file)?;
                vec![v]
            }
        };
        if values.is_empty() {
            self.err(
                Diagnostic::new(Code::Empty, file, e.span, format!("{what} is empty"))
                    .label("no values")
                    .help("give at least one value, e.g. `[0, 4, 8]` or `0..12 step 2`"),
            );
            return None;
        }
        if let Some(r) = range {
            let spans: Vec<Span> = match &e.kind {
                ExprKind::List(items) | ExprKind::Set(items) => {
                    items.iter().map(|i| i.span).collect()
                }
                _ => vec![e.span; values.len()],
            };
            for (v, s) in values.iter().zip(spans) {
                self.check_range(*v, r, s, file, what)?;
            }
        }
        Some(values)
    }

    fn range(
        &mut self,
        start: &Number,
        end: &Number,
        step: Option<&Number>,
        file: FileId,
        span: Span,
    ) -> Option<Vec<f64>> {
        match expand_range(start.value, end.value, step.map(|s| s.value)) {
            Ok(v) => Some(v),
            Err(RangeError::StepNotPositive) => {
                let s = step.expect("only an explicit step can be non-positive");
                let fix = format!(
                    "{}..{} step {}",
                    start.text,
                    end.text,
                    s.text.trim_start_matches('-')
                );
                self.err(
                    Diagnostic::new(
                        Code::RangeStep,
                        file,
                        s.span,
                        "a range step must be positive",
                    )
                    .label("the step's size goes here; the direction comes from the ends")
                    .help(if s.value == 0.0 {
                        "use a step greater than 0".to_string()
                    } else {
                        format!("write `{fix}`")
                    }),
                );
                None
            }
            Err(RangeError::EndNotReached { last, next }) => {
                let st = step.map_or("1".to_string(), |s| s.text.clone());
                self.err(
                    Diagnostic::new(Code::RangeEnd, file, span, format!("steps of {st} from {} never land on {}", start.text, end.text))
                        .label(format!("stops at {last}, then {next}"))
                        .help(format!("ranges include both ends: write `{}..{last} step {st}` or `{}..{next} step {st}`", start.text, start.text)),
                );
                None
            }
            Err(RangeError::TooMany(n)) => {
                self.err(
                    Diagnostic::new(
                        Code::OutOfRange,
                        file,
                        span,
                        format!("this range has {n} values"),
                    )
                    .label("too many values")
                    .help(format!(
                        "use a larger step; at most {} values",
                        super::schedule::MAX_RANGE_VALUES
                    )),
                );
                None
            }
        }
    }

    /// `ucf.classes`: the number when it is known now, else a field read when the node runs.
    fn field_number(&mut self, path: &[Ident], file: FileId) -> Option<Value> {
        if path.len() != 2 {
            let e = &path[0];
            self.err(
                Diagnostic::new(
                    Code::TypeMismatch,
                    file,
                    e.span.join(path[path.len() - 1].span),
                    "expected a whole number, found a name",
                )
                .label("expected a whole number")
                .help("write a number, or a data field such as `ucf.classes`"),
            );
            return None;
        }
        let (node, field) = (&path[0], &path[1]);
        let i = self.lookup(node, file, &[DeclKind::Data])?;
        let b = self.builtin_of_entry(i)?;
        match b.field(&field.name) {
            Some(f) if !f.split => {}
            Some(_) => {
                self.err(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        file,
                        field.span,
                        format!("`{}.{}` is a split, not a number", node.name, field.name),
                    )
                    .label("a split")
                    .help(format!("did you mean `{}.classes`?", node.name)),
                );
                return None;
            }
            None => return self.unknown_field(node, field, file, b),
        }
        self.deps.push(Dep {
            name: node.name.clone(),
            span: node.span,
            file,
        });
        let known = match b.name {
            "ucf101" => Some(101),
            "hmdb51" => Some(51),
            "synthetic" => {
                let r = self.preset(&node.name)?;
                r.args.get("classes").and_then(Value::as_i64)
            }
            _ => None,
        };
        Some(match known {
            Some(n) => Value::Int(n),
            None => Value::Field {
                node: node.name.clone(),
                field: field.name.clone(),
            },
        })
    }

    fn unknown_field(
        &mut self,
        node: &Ident,
        field: &Ident,
        file: FileId,
        b: &Builtin,
    ) -> Option<Value> {
        let names: Vec<&str> = b.fields.iter().map(|f| f.name).collect();
        let help = if names.is_empty() {
            format!("`{}` ({}) has no fields", node.name, b.name)
        } else {
            match nearest(&field.name, names.iter().copied()) {
                Some(n) => format!("did you mean `{}.{n}`?", node.name),
                None => format!(
                    "`{}` has {}",
                    node.name,
                    one_of(&names.iter().map(|n| format!(".{n}")).collect::<Vec<_>>())
                ),
            }
        };
        self.err(
            Diagnostic::new(
                Code::UnknownField,
                file,
                field.span,
                format!("`{}` has no field `{}`", node.name, field.name),
            )
            .label("unknown field")
            .help(help),
        );
        None
    }

    /// Looks a name up and checks its kind.
    fn lookup(&mut self, name: &Ident, file: FileId, kinds: &[DeclKind]) -> Option<usize> {
        let Some(&i) = self.index.get(&name.name) else {
            let candidates: Vec<&str> = self
                .entries
                .iter()
                .filter(|e| kinds.contains(&e.decl.kind))
                .map(|e| e.decl.name.name.as_str())
                .collect();
            let all: Vec<&str> = self
                .entries
                .iter()
                .map(|e| e.decl.name.name.as_str())
                .collect();
            let help = match nearest(&name.name, candidates.iter().copied())
                .or_else(|| nearest(&name.name, all.iter().copied()))
            {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!(
                    "declare it, e.g. `{} {} = …`, or `use` the file that does",
                    kinds.first().copied().unwrap_or(DeclKind::Data),
                    name.name
                ),
            };
            self.err(
                Diagnostic::new(
                    Code::UnknownName,
                    file,
                    name.span,
                    format!("unknown name `{}`", name.name),
                )
                .label("not declared")
                .help(help),
            );
            return None;
        };
        let kind = self.entries[i].decl.kind;
        if !kinds.contains(&kind) {
            let wanted: Vec<String> = kinds.iter().map(|k| article(*k)).collect();
            let help = match kinds.first() {
                Some(DeclKind::Model) => {
                    "a model is a `model` or `train` node, or `defense >> model`".to_string()
                }
                Some(k) => format!("pass a node declared with `{k}` here"),
                None => String::new(),
            };
            self.err(
                Diagnostic::new(
                    Code::WrongKind,
                    file,
                    name.span,
                    format!(
                        "expected {}, but `{}` is {}",
                        wanted.join(" or "),
                        name.name,
                        article(kind)
                    ),
                )
                .label(format!("{} node", kind))
                .help(help),
            );
            return None;
        }
        Some(i)
    }

    fn node_ref(&mut self, e: &Expr, file: FileId, kinds: &[DeclKind], ty: &Ty) -> Option<Value> {
        match &e.kind {
            ExprKind::Path(p) if p.len() == 1 => {
                self.lookup(&p[0], file, kinds)?;
                self.deps.push(Dep {
                    name: p[0].name.clone(),
                    span: p[0].span,
                    file,
                });
                Some(Value::Node(p[0].name.clone()))
            }
            ExprKind::Call { callee, .. } => {
                let kind = kinds[0];
                self.err(
                    Diagnostic::new(Code::InlineNode, file, e.span, format!("{} cannot be made inline", article(kind)))
                        .label("inline call")
                        .help(format!("declare it on its own line, `{kind} my_{0} = {0}(…)`, and pass `my_{0}` here", callee.name)),
                );
                None
            }
            ExprKind::Paren(inner) => self.node_ref(inner, file, kinds, ty),
            _ => self.mismatch(
                e,
                file,
                ty,
                &format!("pass the name of {} node", article(kinds[0])),
            ),
        }
    }

    fn model(&mut self, e: &Expr, file: FileId) -> Option<Value> {
        match &e.kind {
            ExprKind::Binary {
                op: BinOp::Compose,
                lhs,
                rhs,
            } => {
                let d = self.node_ref(lhs, file, &[DeclKind::Defense], &Ty::Defense);
                let m = self.model(rhs, file);
                let mut parts = Vec::new();
                for v in [d?, m?] {
                    match v {
                        Value::Compose(inner) => parts.extend(inner),
                        v => parts.push(v),
                    }
                }
                Some(Value::Compose(parts))
            }
            ExprKind::Paren(inner) => self.model(inner, file),
            _ => self.node_ref(e, file, &[DeclKind::Model, DeclKind::Train], &Ty::Model),
        }
    }

    fn split(&mut self, e: &Expr, file: FileId) -> Option<Value> {
        match &e.kind {
            ExprKind::Path(p) if p.len() == 2 => {
                let i = self.lookup(&p[0], file, &[DeclKind::Data])?;
                let b = self.builtin_of_entry(i)?;
                match b.field(&p[1].name) {
                    Some(f) if f.split => {}
                    Some(_) => {
                        return self.mismatch(
                            e,
                            file,
                            &Ty::Split,
                            &format!("write `{}.test` (or `.train`, `.val`)", p[0].name),
                        );
                    }
                    None => return self.unknown_field(&p[0], &p[1], file, b),
                }
                self.deps.push(Dep {
                    name: p[0].name.clone(),
                    span: p[0].span,
                    file,
                });
                Some(Value::Split {
                    data: p[0].name.clone(),
                    split: p[1].name.clone(),
                })
            }
            ExprKind::Path(p) if p.len() == 1 => {
                self.lookup(&p[0], file, &[DeclKind::Data])?;
                self.err(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        file,
                        e.span,
                        format!("expected a split, found the data `{}`", p[0].name),
                    )
                    .label("which split?")
                    .help(format!(
                        "write `{0}.test`, `{0}.val` or `{0}.train`",
                        p[0].name
                    )),
                );
                None
            }
            _ => self.mismatch(e, file, &Ty::Split, "write e.g. `ucf.test`"),
        }
    }

    /// An attack: a declared preset, a built-in by name, or a call of either.
    fn attack(&mut self, e: &Expr, file: FileId, allow_none: bool) -> Option<Value> {
        match &e.kind {
            ExprKind::Path(p) if p.len() == 1 => {
                let name = &p[0];
                if name.name == "none" && allow_none {
                    return Some(Value::NoAttack);
                }
                if self.index.contains_key(&name.name) {
                    self.lookup(name, file, &[DeclKind::Attack])?;
                    self.current_ref = Some(name.span);
                    self.deps.push(Dep {
                        name: name.name.clone(),
                        span: name.span,
                        file,
                    });
                    let r = self.preset(&name.name);
                    self.current_ref = None;
                    let r = r?;
                    return Some(Value::Call {
                        builtin: r.builtin.name.to_string(),
                        args: r.args,
                    });
                }
                if let Some(b) = builtins::lookup(&name.name) {
                    if b.kind == DeclKind::Attack {
                        let args = self.bind(b, None, &[], &[], file, e.span, &name.name)?;
                        return Some(Value::Call {
                            builtin: b.name.to_string(),
                            args,
                        });
                    }
                }
                let mut names: Vec<&str> = self
                    .entries
                    .iter()
                    .filter(|e| e.decl.kind == DeclKind::Attack)
                    .map(|e| e.decl.name.name.as_str())
                    .collect();
                names.extend(
                    builtins::BUILTINS
                        .iter()
                        .filter(|b| b.kind == DeclKind::Attack)
                        .map(|b| b.name),
                );
                if allow_none {
                    names.push("none");
                }
                let help = match nearest(&name.name, names.iter().copied()) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "name an attack declared with `attack`, a built-in attack, or `use \"stdlib/attacks.advp\"` for the presets".to_string(),
                };
                self.err(
                    Diagnostic::new(
                        Code::UnknownName,
                        file,
                        name.span,
                        format!("unknown attack `{}`", name.name),
                    )
                    .label("not an attack")
                    .help(help),
                );
                None
            }
            ExprKind::Call { callee, args } => {
                let r = self.call(callee, args, &[], file, e.span, Some(DeclKind::Attack))?;
                Some(Value::Call {
                    builtin: r.builtin.name.to_string(),
                    args: r.args,
                })
            }
            ExprKind::Paren(inner) => self.attack(inner, file, allow_none),
            _ => self.mismatch(
                e,
                file,
                &Ty::Attack,
                "name an attack, e.g. `pgd_inf` or `pgd(steps: 10)`",
            ),
        }
    }

    // ----------------------------------------------------------------- rules

    fn rule_of(&mut self, name: &str) -> Option<RuleExpr> {
        if let Some(r) = self.rule_memo.get(name) {
            return r.clone();
        }
        let &i = self.index.get(name)?;
        let e = self.entries[i].clone();
        if self.in_cycle(name) {
            return None;
        }
        self.stack
            .push((name.to_string(), e.file, e.decl.name.span));
        let outer = std::mem::take(&mut self.deps);
        let r = self.rule_expr(&e.decl.value, e.file);
        let mine = std::mem::replace(&mut self.deps, outer);
        self.preset_deps.insert(name.to_string(), mine);
        self.stack.pop();
        self.rule_memo.insert(name.to_string(), r.clone());
        r
    }

    fn rule_expr(&mut self, e: &Expr, file: FileId) -> Option<RuleExpr> {
        Some(match &e.kind {
            ExprKind::Number { value, .. } => RuleExpr::Num(*value),
            ExprKind::Paren(inner) => return self.rule_expr(inner, file),
            ExprKind::Neg(inner) => RuleExpr::Neg(Box::new(self.rule_expr(inner, file)?)),
            ExprKind::Path(p) if p.len() == 1 => {
                let n = &p[0];
                if n.name == "eps" {
                    return Some(RuleExpr::Eps);
                }
                match self
                    .index
                    .get(&n.name)
                    .map(|&i| (self.entries[i].decl.kind, self.builtin_of_entry(i)))
                {
                    Some((DeclKind::Rule, _)) => {
                        self.deps.push(Dep {
                            name: n.name.clone(),
                            span: n.span,
                            file,
                        });
                        self.current_ref = Some(n.span);
                        let r = self.rule_of(&n.name);
                        self.current_ref = None;
                        r?
                    }
                    Some((DeclKind::Analyze, Some(b))) if b.name == "step_fit" => {
                        self.deps.push(Dep {
                            name: n.name.clone(),
                            span: n.span,
                            file,
                        });
                        RuleExpr::Fit(n.name.clone())
                    }
                    Some((kind, _)) => {
                        self.err(
                            Diagnostic::new(Code::WrongKind, file, n.span, format!("`{}` is {}, not a step-size rule", n.name, article(kind)))
                                .label(format!("{kind} node"))
                                .help("a step size is arithmetic of `eps`, numbers, `rule` names and `step_fit` analyses"),
                        );
                        return None;
                    }
                    None => {
                        let mut names: Vec<&str> = self
                            .entries
                            .iter()
                            .filter(|e| e.decl.kind == DeclKind::Rule)
                            .map(|e| e.decl.name.name.as_str())
                            .collect();
                        names.push("eps");
                        let help = match nearest(&n.name, names.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => "a step size uses `eps`, numbers and rules such as `optimal` (from `use \"stdlib/rules.advp\"`)".to_string(),
                        };
                        self.err(
                            Diagnostic::new(
                                Code::UnknownName,
                                file,
                                n.span,
                                format!("unknown name `{}` in a step-size rule", n.name),
                            )
                            .label("not a rule")
                            .help(help),
                        );
                        return None;
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } if *op != BinOp::Compose => {
                let l = self.rule_expr(lhs, file);
                let r = self.rule_expr(rhs, file);
                let (l, r) = (Box::new(l?), Box::new(r?));
                if *op == BinOp::Div && matches!(const_eval(rhs), Ok(v) if v == 0.0) {
                    self.division_by_zero(file, rhs.span);
                    return None;
                }
                match op {
                    BinOp::Add => RuleExpr::Add(l, r),
                    BinOp::Sub => RuleExpr::Sub(l, r),
                    BinOp::Mul => RuleExpr::Mul(l, r),
                    _ => RuleExpr::Div(l, r),
                }
            }
            _ => {
                self.err(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        file,
                        e.span,
                        format!("expected a step-size rule, found {}", e.describe()),
                    )
                    .label("not arithmetic of `eps`")
                    .help("write e.g. `eps`, `0.2 * (eps + 1)`, `optimal / 2` or `1.5`"),
                );
                return None;
            }
        })
    }

    // ------------------------------------------------------------ statements

    fn resolve_stmts(
        &mut self,
        b: &'static Builtin,
        block: &Block,
        file: FileId,
    ) -> BTreeMap<String, prog::StmtValue> {
        let mut out = BTreeMap::new();
        if b.stmts.is_empty() {
            self.no_block(block, file, &format!("`{}`", b.name));
            return out;
        }
        let mut seen: HashMap<String, Span> = HashMap::new();
        for s in &block.stmts {
            let key = s.key();
            let Some(spec) = b.stmt(&key.name) else {
                let keys: Vec<&str> = b.stmts.iter().map(|s| s.key).collect();
                let help = match nearest(&key.name, keys.iter().copied()) {
                    Some(n) => format!("did you mean `{n}`? `{}` takes {}", b.name, one_of(&keys)),
                    None => format!("`{}` takes {}", b.name, one_of(&keys)),
                };
                self.err(
                    Diagnostic::new(
                        Code::UnknownStatement,
                        file,
                        key.span,
                        format!("`{}` has no statement `{}`", b.name, key.name),
                    )
                    .label("unknown statement")
                    .help(help),
                );
                continue;
            };
            // `budget` and `attacks` are one slot each.
            if let Some(first) = seen.insert(key.name.clone(), s.span()) {
                self.err(
                    Diagnostic::new(
                        Code::DuplicateStatement,
                        file,
                        s.span(),
                        format!("`{}` is given twice", key.name),
                    )
                    .label("again here")
                    .also(first, "first here")
                    .help("keep one statement per block"),
                );
                continue;
            }
            if let Some(v) = self.stmt(spec, s, file, b) {
                out.insert(key.name.clone(), v);
            }
        }
        out
    }

    fn stmt(
        &mut self,
        spec: &'static StmtSpec,
        s: &Stmt,
        file: FileId,
        b: &Builtin,
    ) -> Option<prog::StmtValue> {
        match s {
            Stmt::Schedule {
                key,
                mode,
                value,
                every,
                ..
            } => {
                if !spec.modes.contains(&mode.name.as_str()) {
                    let elsewhere = [
                        "fixed",
                        "curriculum",
                        "adaptive",
                        "uniform",
                        "sweep",
                        "each",
                    ]
                    .contains(&mode.name.as_str());
                    let help = if elsewhere {
                        format!(
                            "`{}` in `{}` takes {}",
                            key.name,
                            b.name,
                            one_of(spec.modes)
                        )
                    } else {
                        match nearest(&mode.name, spec.modes.iter().copied()) {
                            Some(n) => format!(
                                "did you mean `{n}`? `{}` takes {}",
                                key.name,
                                one_of(spec.modes)
                            ),
                            None => format!("`{}` takes {}", key.name, one_of(spec.modes)),
                        }
                    };
                    self.err(
                        Diagnostic::new(
                            Code::UnknownMode,
                            file,
                            mode.span,
                            format!(
                                "`{} {}` is not a schedule of `{}`",
                                key.name, mode.name, b.name
                            ),
                        )
                        .label("unknown mode")
                        .help(help),
                    );
                    return None;
                }
                let takes_every = matches!(mode.name.as_str(), "curriculum" | "adaptive");
                let every = match every {
                    Some(ev) if !takes_every => {
                        self.err(
                            Diagnostic::new(Code::UnexpectedEvery, file, ev.span, format!("`{} {}` takes no `every`", key.name, mode.name))
                                .label("unexpected `every`")
                                .help("`every N` belongs to `curriculum` and `adaptive`, which change over epochs; remove it"),
                        );
                        return None;
                    }
                    Some(ev) => Some(self.int_value(ev, file, (1.0, 1e9), "`every`")? as u64),
                    None => None,
                };
                let is_budget = spec.value == builtins::StmtValue::Budget;
                let values = match (mode.name.as_str(), is_budget) {
                    ("fixed", true) => {
                        let v = self.number(value, file)?;
                        self.check_range(v, EPS_RANGE, value.span, file, "a budget")?;
                        vec![Value::Num(v)]
                    }
                    (_, true) => self
                        .numbers(value, file, Some(EPS_RANGE), "a budget")?
                        .into_iter()
                        .map(Value::Num)
                        .collect(),
                    ("fixed", false) => vec![self.attack(value, file, false)?],
                    (m, false) => {
                        let items = match &value.kind {
                            ExprKind::Set(items) | ExprKind::List(items) => items,
                            _ => {
                                self.err(
                                    Diagnostic::new(
                                        Code::TypeMismatch,
                                        file,
                                        value.span,
                                        format!(
                                            "expected a set of attacks, found {}",
                                            value.describe()
                                        ),
                                    )
                                    .label("expected `{…}`")
                                    .help("write e.g. `{masked_pgd, frame_border}`"),
                                );
                                return None;
                            }
                        };
                        if items.is_empty() {
                            self.err(
                                Diagnostic::new(Code::Empty, file, value.span, "no attacks listed")
                                    .label("empty")
                                    .help("list at least one attack"),
                            );
                            return None;
                        }
                        let mut out = Vec::new();
                        let mut ok = true;
                        for it in items {
                            match self.attack(it, file, m == "each") {
                                Some(v) => out.push(v),
                                None => ok = false,
                            }
                        }
                        if !ok {
                            return None;
                        }
                        out
                    }
                };
                Some(prog::StmtValue::Schedule {
                    mode: mode.name.clone(),
                    values,
                    every,
                })
            }
            Stmt::Setting {
                key, grid, value, ..
            } => {
                if !spec.modes.is_empty() {
                    let example = if spec.value == builtins::StmtValue::Budget {
                        format!(
                            "`{} {} {}`",
                            key.name,
                            spec.modes[0],
                            snippet(self.sources.text(file), value.span)
                        )
                    } else {
                        format!("`{} {} …`", key.name, spec.modes[0])
                    };
                    self.err(
                        Diagnostic::new(
                            Code::MissingMode,
                            file,
                            key.span.join(value.span),
                            format!("`{}` needs a schedule mode", key.name),
                        )
                        .label("no mode")
                        .help(format!(
                            "write {example}; the modes here are {}",
                            one_of(spec.modes)
                        )),
                    );
                    return None;
                }
                match (spec.grid, *grid) {
                    (GridUse::Required, false) => {
                        self.err(
                            Diagnostic::new(
                                Code::MissingGrid,
                                file,
                                value.span,
                                format!("`{}` here is an axis of values", key.name),
                            )
                            .label("expected `grid` before the values")
                            .help(format!(
                                "write `{} grid {}`",
                                key.name,
                                if key.name == "alpha" {
                                    "0.25..16 step 0.25"
                                } else {
                                    "1..20"
                                }
                            )),
                        );
                        return None;
                    }
                    (GridUse::Forbidden, true) => {
                        self.err(
                            Diagnostic::new(Code::UnexpectedGrid, file, key.span.join(value.span), format!("`{}` takes no grid here", key.name))
                                .label("unexpected `grid`")
                                .help("grids are for analyses (`loss_surface`, `step_fit`); remove `grid`"),
                        );
                        return None;
                    }
                    _ => {}
                }
                let v = match spec.value {
                    builtins::StmtValue::Alpha if *grid => Value::List(
                        self.numbers(value, file, Some(EPS_RANGE), "a step size")?
                            .into_iter()
                            .map(Value::Num)
                            .collect(),
                    ),
                    builtins::StmtValue::Alpha => {
                        let r = self.rule_expr(value, file)?;
                        if let RuleExpr::Num(v) = r {
                            self.check_range(v, EPS_RANGE, value.span, file, "a step size")?;
                        }
                        Value::Rule(r)
                    }
                    builtins::StmtValue::Attack => self.attack(value, file, false)?,
                    builtins::StmtValue::Steps if *grid => {
                        let nums = self.numbers(value, file, Some((1.0, 1e6)), "steps")?;
                        if let Some(bad) = nums.iter().find(|v| v.fract() != 0.0) {
                            self.err(
                                Diagnostic::new(
                                    Code::TypeMismatch,
                                    file,
                                    value.span,
                                    "steps must be whole numbers",
                                )
                                .label(format!("{bad} is not whole"))
                                .help("write e.g. `steps grid 1..20`"),
                            );
                            return None;
                        }
                        Value::List(nums.into_iter().map(|v| Value::Int(v as i64)).collect())
                    }
                    builtins::StmtValue::Steps => {
                        Value::Int(self.int_value(value, file, (1.0, 1e6), "steps")?)
                    }
                    builtins::StmtValue::Resources => self.resources(value, file)?,
                    builtins::StmtValue::Budget | builtins::StmtValue::Attacks => {
                        unreachable!("schedules have modes")
                    }
                };
                Some(prog::StmtValue::Setting {
                    grid: *grid,
                    value: v,
                })
            }
        }
    }

    fn resources(&mut self, e: &Expr, file: FileId) -> Option<Value> {
        let ExprKind::Record(fields) = &e.kind else {
            self.err(
                Diagnostic::new(
                    Code::TypeMismatch,
                    file,
                    e.span,
                    format!("expected a record of resources, found {}", e.describe()),
                )
                .label("expected `{ key: value, … }`")
                .help("write e.g. `resources { gpus: 1, time: \"12:00:00\" }`"),
            );
            return None;
        };
        const KEYS: &[&str] = &["gpus", "cpus", "mem", "time", "partition"];
        let mut out = BTreeMap::new();
        let mut ok = true;
        for f in fields {
            let v = match f.name.name.as_str() {
                "gpus" => self
                    .int_value(&f.value, file, (0.0, 64.0), "`gpus`")
                    .map(Value::Int),
                "cpus" => self
                    .int_value(&f.value, file, (1.0, 4096.0), "`cpus`")
                    .map(Value::Int),
                "mem" | "time" | "partition" => match &f.value.kind {
                    ExprKind::Str(s) => Some(Value::Str(s.clone())),
                    _ => self.mismatch(
                        &f.value,
                        file,
                        &Ty::Str,
                        "write it in double quotes, e.g. `time: \"12:00:00\"`",
                    ),
                },
                other => {
                    let help = match nearest(other, KEYS.iter().copied()) {
                        Some(n) => format!("did you mean `{n}`? resources are {}", one_of(KEYS)),
                        None => format!("resources are {}", one_of(KEYS)),
                    };
                    self.err(
                        Diagnostic::new(
                            Code::UnknownArgument,
                            file,
                            f.name.span,
                            format!("unknown resource `{other}`"),
                        )
                        .label("unknown resource")
                        .help(help),
                    );
                    None
                }
            };
            match v {
                Some(v) => {
                    out.insert(f.name.name.clone(), v);
                }
                None => ok = false,
            }
        }
        ok.then_some(Value::Record(out))
    }

    // --------------------------------------------------------------- reports

    fn resolve_reports(&mut self) -> Vec<ReportNode> {
        let mut out = Vec::new();
        for (file, r) in self.reports.clone() {
            let Some(i) = self.lookup(
                &r.target,
                file,
                &[
                    DeclKind::Eval,
                    DeclKind::Analyze,
                    DeclKind::Train,
                    DeclKind::Defense,
                ],
            ) else {
                continue;
            };
            let decl = self.entries[i].decl.clone();
            // A trained defense (APE-GAN) reports its training metrics like a
            // train node; a fixed one has nothing to report.
            let kind = match (&decl.kind, &decl.value.kind) {
                (DeclKind::Defense, ExprKind::Call { callee, .. })
                    if builtins::TRAINED_DEFENSES.contains(&callee.name.as_str()) =>
                {
                    DeclKind::Train
                }
                (DeclKind::Defense, _) => {
                    self.err(
                        Diagnostic::new(
                            Code::WrongKind,
                            file,
                            r.target.span,
                            format!(
                                "`{}` is a fixed defense: it has no results to report",
                                r.target.name
                            ),
                        )
                        .label("nothing to report")
                        .help("report an `eval` that uses it (`eval e = robustness([d >> model], …)`), or a trained defense such as `ape_gan`"),
                    );
                    continue;
                }
                (k, _) => *k,
            };
            let mode = r.mode.as_ref().map(|m| m.name.clone());
            if let Some(m) = &r.mode {
                const MODES: &[&str] = &["adversarial", "examples"];
                if !MODES.contains(&m.name.as_str()) {
                    let help = match nearest(&m.name, MODES.iter().copied()) {
                        Some(n) => format!("did you mean `{n}`? a report is `to` (tables and figures), `adversarial to` or `examples to`"),
                        None => "a report is `report x to …`, `report x adversarial to …` or `report x examples to …`".to_string(),
                    };
                    self.err(
                        Diagnostic::new(
                            Code::ReportMode,
                            file,
                            m.span,
                            format!("unknown report `{}`", m.name),
                        )
                        .label("unknown report mode")
                        .help(help),
                    );
                    continue;
                }
                if kind != DeclKind::Eval {
                    self.err(
                        Diagnostic::new(
                            Code::ReportMode,
                            file,
                            m.span,
                            format!(
                                "`{}` reports come from evaluations, and `{}` is {}",
                                m.name,
                                r.target.name,
                                article(kind)
                            ),
                        )
                        .label("needs an eval node")
                        .help(format!("report an `eval` node's {} clips", m.name)),
                    );
                    continue;
                }
            }
            let formats: &[&str] = match (mode.as_deref(), kind) {
                (Some("adversarial"), _) => &["safetensors"],
                (Some(_), _) => &[""],
                (None, DeclKind::Eval) => &["md", "csv", "json", "html", "svg", "png"],
                (None, DeclKind::Analyze) => &["svg", "png", "json", "csv"],
                (None, DeclKind::Train) => &["json", "jsonl", "csv", "svg", "png"],
                _ => &["json", "csv", "svg", "png"],
            };
            let mut paths = Vec::new();
            for p in &r.paths {
                let path = std::path::Path::new(&p.value);
                if p.value.is_empty()
                    || path.is_absolute()
                    || path
                        .components()
                        .any(|c| matches!(c, std::path::Component::ParentDir))
                {
                    self.err(
                        Diagnostic::new(Code::ReportPath, file, p.span, "a report path must stay inside the output folder")
                            .label(if p.value.is_empty() { "empty path" } else { "leaves the output folder" })
                            .help("write a path relative to the output folder, without `..`, e.g. \"table2.md\""),
                    );
                    continue;
                }
                let ext = path
                    .extension()
                    .map(|e| e.to_string_lossy().to_lowercase())
                    .unwrap_or_default();
                if !formats.contains(&ext.as_str()) {
                    let what = match formats {
                        [""] => "a folder name without an extension".to_string(),
                        f => one_of(&f.iter().map(|x| format!(".{x}")).collect::<Vec<_>>()),
                    };
                    self.err(
                        Diagnostic::new(
                            Code::ReportFormat,
                            file,
                            p.span,
                            format!(
                                "cannot write {} `{}` as `.{}`",
                                article(kind),
                                r.target.name,
                                ext
                            ),
                        )
                        .label("unsupported format")
                        .help(format!("use {what}")),
                    );
                    continue;
                }
                paths.push(p.value.clone());
            }
            out.push(ReportNode {
                target: r.target.name.clone(),
                mode,
                paths,
                file,
                span: r.span,
            });
        }
        out
    }
}

fn article(k: DeclKind) -> String {
    match k {
        DeclKind::Data => "data".into(),
        DeclKind::Attack | DeclKind::Eval | DeclKind::Analyze => format!("an {k}"),
        _ => format!("a {k}"),
    }
}

fn snippet(src: &str, span: Span) -> String {
    src.get(span.start..span.end).unwrap_or("…").to_string()
}

fn default_text(p: &Param) -> &'static str {
    match p.default {
        builtins::Default::Text(t) => t,
        _ => "…",
    }
}

fn parse_device(s: &str) -> Option<Device> {
    match s {
        "auto" => Some(Device::Auto),
        "cpu" => Some(Device::Cpu),
        "cuda" => Some(Device::Cuda(0)),
        _ => s.strip_prefix("cuda:")?.parse().ok().map(Device::Cuda),
    }
}

enum ConstError {
    NotConst,
    DivZero(Span),
}

/// Evaluates literal arithmetic (`0.015 * 255`).
fn const_eval(e: &Expr) -> Result<f64, ConstError> {
    match &e.kind {
        ExprKind::Number { value, .. } => Ok(*value),
        ExprKind::Paren(i) => const_eval(i),
        ExprKind::Neg(i) => Ok(-const_eval(i)?),
        ExprKind::Binary { op, lhs, rhs } if *op != BinOp::Compose => {
            let l = const_eval(lhs)?;
            let r = const_eval(rhs)?;
            Ok(match op {
                BinOp::Add => l + r,
                BinOp::Sub => l - r,
                BinOp::Mul => l * r,
                _ if r == 0.0 => return Err(ConstError::DivZero(rhs.span)),
                _ => l / r,
            })
        }
        _ => Err(ConstError::NotConst),
    }
}

fn shift_spans(e: &mut Expr, by: usize) {
    fn sh(s: &mut Span, by: usize) {
        s.start += by;
        s.end += by;
    }
    fn id(i: &mut Ident, by: usize) {
        sh(&mut i.span, by);
    }
    sh(&mut e.span, by);
    match &mut e.kind {
        ExprKind::List(v) | ExprKind::Set(v) => v.iter_mut().for_each(|x| shift_spans(x, by)),
        ExprKind::Record(fs) => fs.iter_mut().for_each(|f| {
            id(&mut f.name, by);
            shift_spans(&mut f.value, by)
        }),
        ExprKind::Range { start, end, step } => {
            sh(&mut start.span, by);
            sh(&mut end.span, by);
            if let Some(s) = step {
                sh(&mut s.span, by);
            }
        }
        ExprKind::Path(p) => p.iter_mut().for_each(|i| id(i, by)),
        ExprKind::Call { callee, args } => {
            id(callee, by);
            for a in args {
                sh(&mut a.span, by);
                if let Some(n) = &mut a.name {
                    id(n, by);
                }
                shift_spans(&mut a.value, by);
            }
        }
        ExprKind::Binary { lhs, rhs, .. } => {
            shift_spans(lhs, by);
            shift_spans(rhs, by);
        }
        ExprKind::Neg(i) | ExprKind::Paren(i) => shift_spans(i, by),
        ExprKind::Number { .. } | ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::Inf => {}
    }
}
