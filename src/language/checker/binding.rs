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

/// A built-in call being bound: the built-in, where the call is written,
/// and its name as written there (for the diagnostics).
#[derive(Clone, Copy)]
pub(super) struct Call<'s> {
    pub b: &'static Builtin,
    pub file: FileId,
    pub span: Span,
    pub shown: &'s str,
}

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
        let call = Call {
            b: builtin,
            file,
            span,
            shown: &callee.name,
        };
        let args = self.bind(call, base, args, overrides)?;
        Some(Resolved { builtin, args })
    }

    /// Binds a call's arguments to the built-in's parameters: the given
    /// ones (positional, then named), a profile's overrides over them, the
    /// rest from `base` (a preset's) or the table's defaults. `None` once
    /// any argument is refused (each refusal reported).
    pub(super) fn bind(
        &mut self,
        call: Call,
        base: Option<BTreeMap<String, Value>>,
        args: &[Arg],
        overrides: &[ArgOverride],
    ) -> Option<BTreeMap<String, Value>> {
        let mut out: BTreeMap<String, Value> = BTreeMap::new();
        let mut given: HashMap<String, Span> = HashMap::new();
        let mut ok = self.bind_given(call, args, overrides, &mut out, &mut given);
        for o in overrides {
            let param = call
                .b
                .param(&o.name.name)
                .or_else(|| call.b.param(builtins::EXTRA));
            if let Some(param) = param {
                match self.value(param, &o.value, o.file) {
                    Some(v) => {
                        // An open parameter's argument keeps its own name.
                        out.insert(o.name.name.clone(), v);
                    }
                    None => ok = false,
                }
            }
        }
        ok &= self.bind_rest(call, base.as_ref(), &given, &mut out);
        ok.then_some(out)
    }

    /// The arguments written in the call, each to its parameter once.
    fn bind_given(
        &mut self,
        call: Call,
        args: &[Arg],
        overrides: &[ArgOverride],
        out: &mut BTreeMap<String, Value>,
        given: &mut HashMap<String, Span>,
    ) -> bool {
        let mut ok = true;
        let mut next_positional = 0;
        let mut named_at: Option<Span> = None;
        for a in args {
            let Some(param) = self.param_of(call, a, &mut next_positional, &mut named_at) else {
                ok = false;
                continue;
            };
            // An open parameter's argument keeps the name it is written with.
            let key = match &a.name {
                Some(n) if param.name == builtins::EXTRA => n.name.clone(),
                _ => param.name.to_string(),
            };
            if let Some(first) = given.insert(key.clone(), a.span) {
                self.err(CheckError::DuplicateArgument { name: &key, first }.at(call.file, a.span));
                ok = false;
                continue;
            }
            // A profile's override replaces this argument: the original value
            // (checked with the base file) must leave no edge in the graph.
            if overrides.iter().any(|o| o.name.name == param.name) {
                continue;
            }
            match self.value(param, &a.value, call.file) {
                Some(v) => {
                    out.insert(key, v);
                }
                None => ok = false,
            }
        }
        ok
    }

    /// The parameter an argument binds to: the next positional one, or the
    /// one it names; `None` (reported) for a positional argument after a
    /// named one, one too many, or a name the built-in does not have.
    fn param_of(
        &mut self,
        call: Call,
        a: &Arg,
        next_positional: &mut usize,
        named_at: &mut Option<Span>,
    ) -> Option<&'static Param> {
        let (b, file, shown) = (call.b, call.file, call.shown);
        let params = || {
            b.params
                .iter()
                .map(|p| p.name)
                .filter(|n| *n != builtins::EXTRA)
                .collect::<Vec<&str>>()
        };
        match &a.name {
            None => {
                if let Some(n) = *named_at {
                    self.err(CheckError::PositionalAfterNamed { named: n }.at(file, a.span));
                    return None;
                }
                let Some(p) = b
                    .params
                    .get(*next_positional)
                    .filter(|p| p.name != builtins::EXTRA)
                else {
                    let params = params();
                    self.err(CheckError::TooManyArguments { shown, params }.at(file, a.span));
                    return None;
                };
                *next_positional += 1;
                Some(p)
            }
            Some(n) => {
                *named_at = Some(a.span);
                let p = b.param(&n.name).or_else(|| b.param(builtins::EXTRA));
                if p.is_none() {
                    let params = params();
                    self.err(
                        CheckError::UnknownArgument {
                            shown,
                            name: &n.name,
                            hint: suggest(&n.name, params.iter().copied()),
                            params,
                        }
                        .at(file, n.span),
                    );
                }
                p
            }
        }
    }

    /// The parameters no argument gave: from `base`, or the table's
    /// default; a required one missing is reported.
    fn bind_rest(
        &mut self,
        call: Call,
        base: Option<&BTreeMap<String, Value>>,
        given: &HashMap<String, Span>,
        out: &mut BTreeMap<String, Value>,
    ) -> bool {
        let mut ok = true;
        // A preset's arguments to an open parameter (a `python(…)` model's
        // factory arguments) come along under their own names.
        if let (Some(base), Some(_)) = (base, call.b.param(builtins::EXTRA)) {
            for (k, v) in base {
                if call.b.param(k).is_none() && !out.contains_key(k) && !given.contains_key(k) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        for p in call.b.params {
            // A given argument whose value was rejected is reported once, not also as missing.
            if out.contains_key(p.name) || given.contains_key(p.name) {
                continue;
            }
            if let Some(v) = base.and_then(|m| m.get(p.name)) {
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
                            shown: call.shown,
                            name: p.name,
                            ty: p.ty,
                            doc: p.doc,
                        }
                        .at(call.file, call.span),
                    );
                    ok = false;
                }
            }
        }
        ok
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
