//! References to other nodes: names, models, splits, attacks and data fields.

use super::suggest::{did_you_mean, suggest};
use super::util::article;
use super::Checker;
use crate::language::ast::*;
use crate::language::builtins::{self, Builtin, Ty};
use crate::language::diagnostic::{nearest, one_of, Code, Diagnostic};
use crate::language::program::{Dep, Value};
use crate::language::source::FileId;

impl<'a> Checker<'a> {
    /// `ucf.classes`: the number when it is known now, else a field read when the node runs.
    pub(super) fn field_number(&mut self, path: &[Ident], file: FileId) -> Option<Value> {
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
                    .help(did_you_mean(format_args!("{}.classes", node.name))),
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

    pub(super) fn unknown_field(
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
                Some(n) => did_you_mean(format_args!("{}.{n}", node.name)),
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
            let help = match suggest(&name.name, candidates.iter().copied())
                .or_else(|| suggest(&name.name, all.iter().copied()))
            {
                Some(hint) => hint,
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
                let help = match suggest(&name.name, names.iter().copied()) {
                    Some(hint) => hint,
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
}
