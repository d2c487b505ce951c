//! Calls: a callee resolved, its arguments bound to parameters, defaults filled in.

use super::errors::CheckError;
use super::suggest::suggest;
use super::{ArgOverride, Checker, Resolved};
use crate::language::ast::*;
use crate::language::builtins::{self, Builtin, Param};
use crate::language::parser;
use crate::language::program::{Dep, Value};
use crate::language::source::FileId;
use std::collections::{BTreeMap, HashMap};

impl<'a> Checker<'a> {
    /// Resolves `callee(args)`: a built-in, or a declared preset with some arguments changed.
    pub(super) fn call(
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
                    CheckError::NotCallable {
                        name: &callee.name,
                        kind,
                    }
                    .at(file, callee.span),
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
            let hint = suggest(&callee.name, names.iter().copied());
            let builtins: Vec<&str> = builtins::BUILTINS
                .iter()
                .filter(|b| want.is_none_or(|k| b.kind == k))
                .map(|b| b.name)
                .collect();
            let d = CheckError::UnknownFunction {
                name: &callee.name,
                hint,
                builtins,
            }
            .at(file, callee.span);
            self.err(d);
            return None;
        };
        if let Some(k) = want {
            if builtin.kind != k {
                self.err(
                    CheckError::MakesWrongKind {
                        name: &callee.name,
                        makes: builtin.kind,
                        wanted: k,
                    }
                    .at(file, callee.span),
                );
                return None;
            }
        }
        let args = self.bind(builtin, base, args, overrides, file, span, &callee.name)?;
        Some(Resolved { builtin, args })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn bind(
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
                        self.err(CheckError::PositionalAfterNamed { named: n }.at(file, a.span));
                        ok = false;
                        continue;
                    }
                    let Some(p) = b.params.get(next_positional) else {
                        let params: Vec<&str> = b.params.iter().map(|p| p.name).collect();
                        self.err(CheckError::TooManyArguments { shown, params }.at(file, a.span));
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
                            let params: Vec<&str> = b.params.iter().map(|p| p.name).collect();
                            self.err(
                                CheckError::UnknownArgument {
                                    shown,
                                    name: &n.name,
                                    hint: suggest(&n.name, params.iter().copied()),
                                    params,
                                }
                                .at(file, n.span),
                            );
                            ok = false;
                            continue;
                        }
                    }
                }
            };
            if let Some(first) = given.insert(param.name, a.span) {
                self.err(
                    CheckError::DuplicateArgument {
                        name: param.name,
                        first,
                    }
                    .at(file, a.span),
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
                        CheckError::MissingArgument {
                            shown,
                            name: p.name,
                            ty: p.ty,
                            doc: p.doc,
                        }
                        .at(file, span),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// A default from the built-in table, parsed and resolved like user text.
    pub(super) fn default_value(&mut self, p: &Param, text: &'static str) -> Option<Value> {
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
}
