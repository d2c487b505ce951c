//! Declarations to nodes: presets, the cycles between them, and a declaration's value.

use super::errors::CheckError;
use super::{Checker, Entry, Resolved};
use crate::language::ast::*;
use crate::language::builtins;
use crate::language::program::{Node, Value};
use crate::language::source::FileId;
use std::collections::BTreeMap;

impl<'a> Checker<'a> {
    pub(super) fn resolve_entry(&mut self, i: usize) -> Option<Node> {
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
        self.claims.clear();
        let table = builtins::lookup(&builtin);
        let stmts = match (&e.decl.block, table) {
            (Some(block), Some(b)) => self.resolve_stmts(b, block, e.file),
            _ => BTreeMap::new(),
        };
        let defaults = match table {
            Some(b) => self.stmt_defaults(b, &stmts),
            None => BTreeMap::new(),
        };
        if let Some(block) = &e.decl.block {
            self.check_alpha(e.decl.kind, &args, (&stmts, &defaults), block, e.file);
        }
        let claims = std::mem::take(&mut self.claims);
        if let (Some(block), false) = (&e.decl.block, claims.is_empty()) {
            self.check_claims(&name, block, &args, e.file);
        }
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
            defaults,
            claims,
            deps,
            file: e.file,
            span: e.decl.span,
            name_span: e.decl.name.span,
        })
    }

    pub(super) fn no_block(&mut self, block: &Block, file: FileId, what: &str) {
        self.err(CheckError::NoBlock { what }.at(file, block.span));
    }

    /// Resolves a declared name to its built-in call (memoised; cycles reported).
    pub(super) fn preset(&mut self, name: &str) -> Option<Resolved> {
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

    pub(super) fn in_cycle(&mut self, name: &str) -> bool {
        let Some(pos) = self.stack.iter().position(|(n, _, _)| n == name) else {
            return false;
        };
        let mut path: Vec<String> = self.stack[pos..]
            .iter()
            .map(|(n, _, _)| n.clone())
            .collect();
        path.push(name.to_string());
        let (_, last_file, last_span) = self.stack.last().cloned().expect("non-empty stack");
        let span = self.current_ref.unwrap_or(last_span);
        self.err(CheckError::Cycle { path: &path }.at(last_file, span));
        // Everything on the cycle is poisoned so it is reported once.
        for n in &path {
            self.memo.insert(n.clone(), None);
            self.rule_memo.insert(n.clone(), None);
        }
        true
    }

    pub(super) fn decl_value(&mut self, e: &Entry) -> Option<Resolved> {
        let kind = e.decl.kind;
        let v = &e.decl.value;
        let (callee, args): (&Ident, &[Arg]) = match &v.kind {
            ExprKind::Call { callee, args } => (callee, args),
            ExprKind::Path(p) if p.len() == 1 => (&p[0], &[]),
            _ => {
                self.err(
                    CheckError::NeedsCall {
                        kind,
                        name: &e.decl.name.name,
                        found: v.describe(),
                    }
                    .at(e.file, v.span),
                );
                return None;
            }
        };
        self.call(callee, args, &e.overrides, e.file, v.span, Some(kind))
    }
}
