//! References to other nodes: names, models, splits, attacks and data fields.

use super::errors::{CheckError, Fix};
use super::suggest::suggest;
use super::Checker;
use crate::language::ast::*;
use crate::language::builtins::{self, Builtin, Ty};
use crate::language::diagnostic::nearest;
use crate::language::program::{Dep, Value};
use crate::language::source::FileId;

impl<'a> Checker<'a> {
    /// `ucf.classes`: the number when it is known now, else a field read when the node runs.
    pub(super) fn field_number(&mut self, path: &[Ident], file: FileId) -> Option<Value> {
        if path.len() != 2 {
            let e = &path[0];
            self.err(CheckError::NameNotNumber.at(file, e.span.join(path[path.len() - 1].span)));
            return None;
        }
        let (node, field) = (&path[0], &path[1]);
        let i = self.lookup(node, file, &[DeclKind::Data])?;
        let b = self.builtin_of_entry(i)?;
        match b.field(&field.name) {
            Some(f) if !f.split => {}
            Some(_) => {
                self.err(
                    CheckError::SplitNotNumber {
                        node: &node.name,
                        field: &field.name,
                    }
                    .at(file, field.span),
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
            name if builtins::known_classes(name).is_some() => builtins::known_classes(name),
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

    pub(super) fn unknown_field(
        &mut self,
        node: &Ident,
        field: &Ident,
        file: FileId,
        b: &Builtin,
    ) -> Option<Value> {
        let fields: Vec<&str> = b.fields.iter().map(|f| f.name).collect();
        self.err(
            CheckError::UnknownField {
                node: &node.name,
                field: &field.name,
                builtin: b.name,
                nearest: nearest(&field.name, fields.iter().copied()),
                fields,
            }
            .at(file, field.span),
        );
        None
    }

    /// Looks a name up and checks its kind.
    pub(super) fn lookup(
        &mut self,
        name: &Ident,
        file: FileId,
        kinds: &[DeclKind],
    ) -> Option<usize> {
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
            let hint = suggest(&name.name, candidates.iter().copied())
                .or_else(|| suggest(&name.name, all.iter().copied()));
            self.err(
                CheckError::UnknownName {
                    name: &name.name,
                    hint,
                    kind: kinds.first().copied().unwrap_or(DeclKind::Data),
                }
                .at(file, name.span),
            );
            return None;
        };
        let kind = self.entries[i].decl.kind;
        if !kinds.contains(&kind) {
            self.err(
                CheckError::ExpectedKind {
                    name: &name.name,
                    wanted: kinds,
                    found: kind,
                }
                .at(file, name.span),
            );
            return None;
        }
        Some(i)
    }

    pub(super) fn node_ref(
        &mut self,
        e: &Expr,
        file: FileId,
        kinds: &[DeclKind],
        ty: &Ty,
    ) -> Option<Value> {
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
                    CheckError::InlineNode {
                        kind,
                        callee: &callee.name,
                    }
                    .at(file, e.span),
                );
                None
            }
            ExprKind::Paren(inner) => self.node_ref(inner, file, kinds, ty),
            _ => self.mismatch(e, file, ty, Fix::NodeOf(kinds[0])),
        }
    }

    pub(super) fn model(&mut self, e: &Expr, file: FileId) -> Option<Value> {
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

    pub(super) fn split(&mut self, e: &Expr, file: FileId) -> Option<Value> {
        match &e.kind {
            ExprKind::Path(p) if p.len() == 2 => {
                let i = self.lookup(&p[0], file, &[DeclKind::Data])?;
                let b = self.builtin_of_entry(i)?;
                match b.field(&p[1].name) {
                    Some(f) if f.split => {}
                    Some(_) => {
                        return self.mismatch(e, file, &Ty::Split, Fix::SplitOf(&p[0].name));
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
                self.err(CheckError::DataNotSplit { data: &p[0].name }.at(file, e.span));
                None
            }
            _ => self.mismatch(e, file, &Ty::Split, Fix::Split),
        }
    }

    /// An attack: a declared preset, a built-in by name, or a call of either.
    pub(super) fn attack(&mut self, e: &Expr, file: FileId, allow_none: bool) -> Option<Value> {
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
                        let call = super::binding::Call {
                            b,
                            file,
                            span: e.span,
                            shown: &name.name,
                        };
                        let args = self.bind(call, None, &[], &[])?;
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
                let hint = suggest(&name.name, names.iter().copied());
                self.err(
                    CheckError::UnknownAttack {
                        name: &name.name,
                        hint,
                    }
                    .at(file, name.span),
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
            _ => self.mismatch(e, file, &Ty::Attack, Fix::Attack),
        }
    }
}
