//! Every name of a loaded pipeline and its imports, with its span and role
//! ([`What`]): what hover, go-to-definition, references, rename, symbols
//! and semantic tokens read. Built from the syntax trees, so it needs the
//! file to parse, not to check.

use crate::language::ast::{DeclKind, Expr, ExprKind, Item, Module, ProfileEntry, Span, Stmt};
use crate::language::loader::Loaded;
use crate::language::source::FileId;
use std::collections::HashMap;

/// What a name is where it is written.
#[derive(Clone, Debug, PartialEq)]
pub enum What {
    /// A declaration's own name.
    Decl { kind: DeclKind },
    /// A name that refers to a declaration or a built-in: a path's first
    /// name (`ucf` of `ucf.test`), a report's target, an override's node,
    /// a side of a `compare`.
    Ref,
    /// The name of a call: a built-in or a preset (`pgd_inf(steps: 10)`).
    Callee,
    /// An argument's name in a call of `callee`.
    Arg { callee: String },
    /// A block statement's key in declaration `decl`.
    Stmt { decl: String },
    /// A field: `test` of `ucf.test`.
    Field { node: String },
    /// A profile's name.
    Profile,
}

#[derive(Clone, Debug)]
pub struct Occ {
    pub file: FileId,
    pub span: Span,
    pub name: String,
    pub what: What,
}

/// A declaration: where it is and what it is.
#[derive(Clone, Debug)]
pub struct Declared {
    pub file: FileId,
    pub name_span: Span,
    pub span: Span,
    pub kind: DeclKind,
    /// The call it is (`pgd` of `attack x = pgd(…)`), or the name it
    /// aliases (`attack y = x`).
    pub callee: Option<String>,
    /// Inside a profile (it replaces the top-level one under that profile).
    pub profile: Option<String>,
}

#[derive(Clone, Default)]
pub struct Index {
    pub occs: Vec<Occ>,
    pub decls: HashMap<String, Vec<Declared>>,
}

impl Index {
    pub fn of(loaded: &Loaded) -> Index {
        let mut ix = Index::default();
        for (file, module) in &loaded.modules {
            ix.module(*file, module);
        }
        ix.occs.sort_by_key(|o| (o.file.0, o.span.start));
        ix
    }

    /// The name at byte `offset` of `file`.
    pub fn at(&self, file: FileId, offset: usize) -> Option<&Occ> {
        self.occs
            .iter()
            .find(|o| o.file == file && o.span.start <= offset && offset <= o.span.end)
    }

    /// A name's top-level declaration (else one in a profile).
    pub fn decl(&self, name: &str) -> Option<&Declared> {
        let all = self.decls.get(name)?;
        all.iter().find(|d| d.profile.is_none()).or(all.first())
    }

    fn push(&mut self, file: FileId, span: Span, name: &str, what: What) {
        self.occs.push(Occ {
            file,
            span,
            name: name.to_string(),
            what,
        });
    }

    fn module(&mut self, file: FileId, m: &Module) {
        for item in &m.items {
            match item {
                Item::Decl(d) => self.decl_item(file, d, None),
                Item::Report(r) => self.push(file, r.target.span, &r.target.name, What::Ref),
                Item::Profile(p) => {
                    self.push(file, p.name.span, &p.name.name, What::Profile);
                    for e in &p.entries {
                        match e {
                            ProfileEntry::Decl(d) => self.decl_item(file, d, Some(&p.name.name)),
                            ProfileEntry::Override(o) => {
                                if let Some(first) = o.path.first() {
                                    // `train.epochs` names every train node: no reference.
                                    if DeclKind::parse(&first.name).is_none() {
                                        self.push(file, first.span, &first.name, What::Ref);
                                    }
                                }
                                self.expr(file, &o.value);
                            }
                            ProfileEntry::Setting(_) => {}
                        }
                    }
                }
                Item::Use(_) | Item::Setting(_) => {}
            }
        }
    }

    fn decl_item(&mut self, file: FileId, d: &crate::language::ast::Decl, profile: Option<&str>) {
        self.push(file, d.name.span, &d.name.name, What::Decl { kind: d.kind });
        let callee = match &d.value.kind {
            ExprKind::Call { callee, .. } => Some(callee.name.clone()),
            ExprKind::Path(p) if p.len() == 1 => Some(p[0].name.clone()),
            _ => None,
        };
        self.decls
            .entry(d.name.name.clone())
            .or_default()
            .push(Declared {
                file,
                name_span: d.name.span,
                span: d.span,
                kind: d.kind,
                callee,
                profile: profile.map(str::to_string),
            });
        self.expr(file, &d.value);
        if let Some(block) = &d.block {
            for s in &block.stmts {
                let key = s.key();
                if !matches!(s, Stmt::Compare { .. }) {
                    self.push(
                        file,
                        key.span,
                        &key.name,
                        What::Stmt {
                            decl: d.name.name.clone(),
                        },
                    );
                }
                match s {
                    Stmt::Schedule { value, every, .. } => {
                        self.expr(file, value);
                        if let Some(e) = every {
                            self.expr(file, e);
                        }
                    }
                    Stmt::Setting { value, .. } => self.expr(file, value),
                    Stmt::Compare { a, b, at, .. } => {
                        for side in a.iter().chain(b) {
                            self.push(file, side.span, &side.name, What::Ref);
                        }
                        for (_, e) in at {
                            self.expr(file, e);
                        }
                    }
                }
            }
        }
    }

    fn expr(&mut self, file: FileId, e: &Expr) {
        match &e.kind {
            ExprKind::Path(p) => {
                if let Some(first) = p.first() {
                    self.push(file, first.span, &first.name, What::Ref);
                    for f in &p[1..] {
                        self.push(
                            file,
                            f.span,
                            &f.name,
                            What::Field {
                                node: first.name.clone(),
                            },
                        );
                    }
                }
            }
            ExprKind::Call { callee, args } => {
                self.push(file, callee.span, &callee.name, What::Callee);
                for a in args {
                    if let Some(n) = &a.name {
                        self.push(
                            file,
                            n.span,
                            &n.name,
                            What::Arg {
                                callee: callee.name.clone(),
                            },
                        );
                    }
                    self.expr(file, &a.value);
                }
            }
            ExprKind::List(items) | ExprKind::Set(items) => {
                items.iter().for_each(|i| self.expr(file, i))
            }
            ExprKind::Record(fields) => fields.iter().for_each(|f| self.expr(file, &f.value)),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(file, lhs);
                self.expr(file, rhs);
            }
            ExprKind::Neg(inner) | ExprKind::Paren(inner) => self.expr(file, inner),
            ExprKind::Number { .. }
            | ExprKind::Str(_)
            | ExprKind::Bool(_)
            | ExprKind::Inf
            | ExprKind::Range { .. } => {}
        }
    }
}
