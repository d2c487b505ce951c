//! `check(loaded) -> Program`: names, kinds, arguments, schedules and profiles, all errors at once.
//!
//! The `Checker` is one struct; its methods are split by concern across the files here:
//! collecting declarations (`collect`), profiles and `--set` (`profiles`), settings
//! (`settings`), presets and cycles (`presets`), calls and argument binding (`binding`),
//! argument values (`values`), references to other nodes (`references`), step-size
//! rules (`rules`), block statements (`statements`), reports (`reports`) and the
//! masked attacks against the data's frames (`masks`, after the rest).
//!
//! Every error is a `CheckError` (`errors`): a kind and its facts. Its code, message,
//! label and help are written once, in `wording`, and "did you mean" hints come from
//! `suggest`. Free helpers such as `const_eval` and `shift_spans` are in `util`.

mod alpha;
mod binding;
mod claims;
mod collect;
mod errors;
mod masks;
mod presets;
mod profiles;
mod references;
mod reports;
mod rules;
mod settings;
mod statements;
mod suggest;
mod util;
mod values;
mod wording;

use super::ast::*;
use super::builtins::Builtin;
use super::diagnostic::Diagnostic;
use super::loader::Loaded;
use super::program::{Dep, Node, Program, RuleExpr, Value};
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
            errors.extend(masks::check_masks(p));
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

/// The statement defaults of built-in `b` as the checker fills them in a
/// node whose block leaves them out, and what the checker said (for tests
/// of the table).
#[cfg(test)]
pub(crate) fn statement_defaults(
    b: &'static Builtin,
) -> (
    BTreeMap<String, crate::language::program::StmtValue>,
    Vec<Diagnostic>,
) {
    let loaded = crate::language::loader::load_source("<defaults>", None, String::new());
    let mut sources = loaded.sources.clone();
    let mut c = Checker::new(&loaded, &mut sources);
    let defaults = c.stmt_defaults(b, &BTreeMap::new());
    (defaults, c.errors)
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
    /// The `compare` statements of the block being resolved.
    claims: Vec<crate::language::program::Claim>,
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
            claims: Vec::new(),
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

    /// The resolved default of every parameter of every built-in `nodes`
    /// use, their nested calls included (each built-in once).
    fn param_defaults(&mut self, nodes: &[Node]) -> BTreeMap<String, BTreeMap<String, Value>> {
        let mut names: Vec<&str> = Vec::new();
        for n in nodes {
            names.push(&n.builtin);
            n.written_values().for_each(|v| v.calls(&mut names));
        }
        names.sort_unstable();
        names.dedup();
        let mut out = BTreeMap::new();
        for name in names {
            let Some(b) = super::builtins::lookup(name) else {
                continue;
            };
            let mut defaults = BTreeMap::new();
            for p in b.params {
                if let super::builtins::Default::Text(t) = p.default {
                    if let Some(v) = self.default_value(p, t) {
                        defaults.insert(p.name.to_string(), v);
                    }
                }
            }
            out.insert(name.to_string(), defaults);
        }
        out
    }

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
        let nodes: Vec<Node> = nodes
            .into_iter()
            .flatten()
            .filter(|n| keep.contains(&n.name))
            .collect();
        let param_defaults = self.param_defaults(&nodes);
        Some(Program {
            sources: SourceMap::default(),
            main,
            settings,
            nodes,
            reports,
            profile: self.profile.clone(),
            profiles,
            param_defaults,
            by_name: Default::default(),
        })
    }
}
