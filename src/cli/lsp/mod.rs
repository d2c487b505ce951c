//! `advp lsp`: a Language Server over stdio (rust-analyzer's `lsp-server`
//! scaffold, `lsp-types`). Each open document is loaded with its `use`s
//! (an open buffer's unsaved text before the file on disk) and diagnosed
//! as `advp check` diagnoses it (every profile, cycles, what cannot run,
//! files not there), on every change; the diagnostics of an imported file
//! go to that file. Hover, completion, definitions, references, rename,
//! symbols, formatting and semantic tokens read the syntax trees
//! ([`index`]) and the one built-in table ([`features`]).
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the loop: documents, analyses, diagnostics, dispatch |
//! | `index.rs` | every name of a pipeline with its role and span |
//! | `features.rs` | the answers |
//! | `complete.rs` | completion by the place of the cursor |
//! | `text.rs` | positions (UTF-16), URIs, the stdlib as read-only files |

pub mod complete;
pub mod features;
pub mod index;
pub mod text;

use super::files::{diagnose, Diagnosed};
use crate::language::diagnostic::Diagnostic;
use crate::language::loader::{self, Loaded};
use crate::language::source::{FileId, SourceMap};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types as lsp;
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// One open document, analysed.
pub struct Analysis {
    pub loaded: Loaded,
    pub diagnosed: Diagnosed,
    pub index: index::Index,
    /// The open documents' URIs as the client names them, by canonical
    /// path: answers about them go there.
    pub uris: HashMap<PathBuf, lsp::Uri>,
}

struct Doc {
    path: PathBuf,
    text: String,
    /// The index of its last text that parsed: completion while a line is
    /// half typed still knows the nodes.
    parsed: Option<index::Index>,
}

/// The server's state: open documents and their analyses.
pub struct Server {
    docs: BTreeMap<String, Doc>,
    analyses: HashMap<String, Analysis>,
    /// URIs that were given diagnostics: cleared when they have none.
    published: HashSet<String>,
    /// The workspace folder: its `.advp/cache` is the cache hover reports on.
    root: PathBuf,
}

/// The capabilities `advp lsp` offers.
pub fn capabilities() -> lsp::ServerCapabilities {
    lsp::ServerCapabilities {
        text_document_sync: Some(lsp::TextDocumentSyncCapability::Options(
            lsp::TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(lsp::TextDocumentSyncKind::FULL),
                save: Some(lsp::TextDocumentSyncSaveOptions::Supported(true)),
                ..Default::default()
            },
        )),
        hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
        completion_provider: Some(lsp::CompletionOptions {
            trigger_characters: Some(
                ["(", ",", ":", " ", "{", "\"", "\n"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            ..Default::default()
        }),
        definition_provider: Some(lsp::OneOf::Left(true)),
        references_provider: Some(lsp::OneOf::Left(true)),
        rename_provider: Some(lsp::OneOf::Right(lsp::RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        document_symbol_provider: Some(lsp::OneOf::Left(true)),
        document_formatting_provider: Some(lsp::OneOf::Left(true)),
        semantic_tokens_provider: Some(
            lsp::SemanticTokensServerCapabilities::SemanticTokensOptions(
                lsp::SemanticTokensOptions {
                    legend: lsp::SemanticTokensLegend {
                        token_types: features::TOKEN_TYPES
                            .iter()
                            .map(|t| lsp::SemanticTokenType::new(t))
                            .collect(),
                        token_modifiers: features::TOKEN_MODIFIERS
                            .iter()
                            .map(|t| lsp::SemanticTokenModifier::new(t))
                            .collect(),
                    },
                    full: Some(lsp::SemanticTokensFullOptions::Bool(true)),
                    range: None,
                    work_done_progress_options: Default::default(),
                },
            ),
        ),
        ..Default::default()
    }
}

/// `advp lsp`: serves stdin/stdout until the client says `exit`.
pub(super) fn main() -> i32 {
    let (conn, io) = Connection::stdio();
    let code = match serve(&conn) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("advp lsp: {e}");
            1
        }
    };
    drop(conn);
    let _ = io.join();
    code
}

/// Serves one connection: the handshake, then every message until `exit`.
pub fn serve(conn: &Connection) -> Result<(), String> {
    let caps = serde_json::to_value(capabilities()).map_err(|e| e.to_string())?;
    let init = conn.initialize(caps).map_err(|e| e.to_string())?;
    let params: lsp::InitializeParams = serde_json::from_value(init).unwrap_or_default();
    #[allow(deprecated)]
    let root = params
        .workspace_folders
        .as_ref()
        .and_then(|f| f.first())
        .map(|f| f.uri.clone())
        .or(params.root_uri.clone())
        .and_then(|u| text::path_of(&u))
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
    let mut server = Server {
        docs: BTreeMap::new(),
        analyses: HashMap::new(),
        published: HashSet::new(),
        root,
    };
    for msg in &conn.receiver {
        match msg {
            Message::Request(req) => {
                if conn.handle_shutdown(&req).map_err(|e| e.to_string())? {
                    return Ok(());
                }
                let response = server.request(req);
                conn.sender
                    .send(response.into())
                    .map_err(|e| e.to_string())?;
            }
            Message::Notification(n) => {
                // `exit` before `shutdown`: the protocol's exit status 1.
                if n.method == lsp::notification::Exit::METHOD {
                    return Err("`exit` came before `shutdown`".into());
                }
                for out in server.notify(n) {
                    conn.sender.send(out.into()).map_err(|e| e.to_string())?;
                }
            }
            Message::Response(_) => {}
        }
    }
    Ok(())
}

/// A loaded file's diagnostic as the protocol has it (its file's URI aside).
fn to_lsp(d: &Diagnostic, sources: &SourceMap) -> lsp::Diagnostic {
    let file = sources.file(d.file);
    let lines = text::Lines::new(&file.text);
    let mut message = d.message.clone();
    if !d.label.is_empty() && d.label != d.message {
        message.push_str(&format!(" ({})", d.label));
    }
    if let Some(h) = &d.help {
        message.push_str(&format!("\nhelp: {h}"));
    }
    let uri = file.path.as_ref().map(|p| text::uri_of(p));
    lsp::Diagnostic {
        range: lines.range(d.span.start, d.span.end),
        severity: Some(if d.warning {
            lsp::DiagnosticSeverity::WARNING
        } else {
            lsp::DiagnosticSeverity::ERROR
        }),
        code: Some(lsp::NumberOrString::String(d.code.as_str().to_string())),
        source: Some("advp".into()),
        message,
        related_information: uri.map(|uri| {
            d.secondary
                .iter()
                .map(|l| lsp::DiagnosticRelatedInformation {
                    location: lsp::Location::new(
                        uri.clone(),
                        lines.range(l.span.start, l.span.end),
                    ),
                    message: l.text.clone(),
                })
                .collect()
        }),
        ..Default::default()
    }
}

fn params<P: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<P, Response> {
    serde_json::from_value(v).map_err(|e| {
        Response::new_err(
            RequestId::from(0),
            ErrorCode::InvalidParams as i32,
            e.to_string(),
        )
    })
}

impl Server {
    /// Loads and diagnoses the document at `uri` (open buffers before files).
    fn analyse(&self, uri: &str) -> Option<Analysis> {
        let doc = self.docs.get(uri)?;
        let overlay = |p: &Path| {
            self.docs
                .values()
                .find(|d| d.path == p || d.path.canonicalize().is_ok_and(|c| c == p))
                .map(|d| d.text.clone())
        };
        let loaded = loader::load_with(
            &doc.path.display().to_string(),
            Some(doc.path.clone()),
            doc.text.clone(),
            &overlay,
        );
        let base = doc.path.parent().unwrap_or(Path::new("."));
        let diagnosed = diagnose(&loaded, base, false);
        let index = index::Index::of(&loaded);
        // The document's own URI wins for its file (open twice, by a link).
        let mut uris: HashMap<PathBuf, lsp::Uri> = self
            .docs
            .iter()
            .filter_map(|(u, d)| Some((d.path.canonicalize().ok()?, u.parse().ok()?)))
            .collect();
        if let (Ok(own), Ok(u)) = (doc.path.canonicalize(), uri.parse()) {
            uris.insert(own, u);
        }
        Some(Analysis {
            loaded,
            diagnosed,
            index,
            uris,
        })
    }

    /// Every open document analysed again; the diagnostics of every file
    /// they load, one notification a file (an empty one for a file that
    /// had some and has none now).
    fn refresh(&mut self) -> Vec<Notification> {
        let uris: Vec<String> = self.docs.keys().cloned().collect();
        self.analyses.clear();
        let mut by_uri: BTreeMap<String, Vec<lsp::Diagnostic>> = BTreeMap::new();
        for uri in uris {
            let Some(a) = self.analyse(&uri) else {
                continue;
            };
            by_uri.entry(uri.clone()).or_default();
            let sources = &a.diagnosed.outcome.sources;
            for d in a.diagnosed.errors.iter().chain(&a.diagnosed.warnings) {
                let Some(path) = &sources.file(d.file).path else {
                    continue;
                };
                let to = a
                    .uris
                    .get(path)
                    .cloned()
                    .unwrap_or_else(|| text::uri_of(path))
                    .as_str()
                    .to_string();
                let diag = to_lsp(d, sources);
                let list = by_uri.entry(to).or_default();
                if !list.contains(&diag) {
                    list.push(diag);
                }
            }
            if a.loaded.errors.is_empty() {
                if let Some(doc) = self.docs.get_mut(&uri) {
                    doc.parsed = Some(a.index.clone());
                }
            }
            self.analyses.insert(uri, a);
        }
        let mut out = Vec::new();
        for gone in self.published.iter().filter(|u| !by_uri.contains_key(*u)) {
            out.push(publish(gone, Vec::new()));
        }
        self.published = by_uri
            .iter()
            .filter(|(_, d)| !d.is_empty())
            .map(|(u, _)| u.clone())
            .collect();
        for (uri, diags) in &by_uri {
            out.push(publish(uri, diags.clone()));
        }
        out
    }

    fn notify(&mut self, n: Notification) -> Vec<Notification> {
        use lsp::notification as note;
        match n.method.as_str() {
            note::DidOpenTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp::DidOpenTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                let Some(path) = text::path_of(&p.text_document.uri) else {
                    return Vec::new();
                };
                // The stdlib's read-only copies are documentation, not pipelines.
                if text::stdlib_name(&path).is_some() {
                    return Vec::new();
                }
                self.docs.insert(
                    p.text_document.uri.as_str().to_string(),
                    Doc {
                        path,
                        text: p.text_document.text,
                        parsed: None,
                    },
                );
                self.refresh()
            }
            note::DidChangeTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp::DidChangeTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                let Some(doc) = self.docs.get_mut(p.text_document.uri.as_str()) else {
                    return Vec::new();
                };
                // Full synchronization: the last change is the whole text.
                if let Some(change) = p.content_changes.into_iter().last() {
                    doc.text = change.text;
                }
                self.refresh()
            }
            note::DidSaveTextDocument::METHOD => self.refresh(),
            note::DidCloseTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp::DidCloseTextDocumentParams>(n.params) {
                    self.docs.remove(p.text_document.uri.as_str());
                }
                self.refresh()
            }
            _ => Vec::new(),
        }
    }

    /// The analysis of an open document, and the file and byte offset of a
    /// position in it.
    fn locate(&self, uri: &lsp::Uri, pos: lsp::Position) -> Option<(&Analysis, FileId, usize)> {
        let a = self.analyses.get(uri.as_str())?;
        let file = a.loaded.main;
        let offset = text::Lines::new(&a.loaded.sources.file(file).text).offset(pos);
        Some((a, file, offset))
    }

    /// The cache state of node `name` of analysis `a` (for hover).
    fn node_state(&self, a: &Analysis, name: &str) -> Option<String> {
        let program = a.diagnosed.outcome.program.as_ref()?;
        let plan = crate::graph::plan(program).ok()?;
        let i = program.nodes.iter().position(|n| n.name == name)?;
        if !crate::runtime::exec::computed(&program.nodes[i]) {
            return None;
        }
        let main = a.loaded.sources.file(a.loaded.main).path.clone()?;
        let opts = crate::runtime::exec::Options {
            out: std::env::temp_dir(),
            cache: self.root.join(".advp").join("cache"),
            only: None,
            force: false,
            quiet: true,
            base: main.parent()?.to_path_buf(),
            device: tch::Device::Cpu,
        };
        let runner = crate::runtime::exec::Runner::new(program, &plan, &opts);
        let key = runner.key(i);
        Some(if runner.cache().done(key).exists() {
            format!("cached (entry {})", &key[..12])
        } else {
            format!(
                "to run: {}",
                runner.why(i, false, &runner.old_keys()).detail_text()
            )
        })
    }

    /// The answer to a request; a bug that panics answers with an error
    /// and the server goes on.
    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let method = req.method.clone();
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.answer(req)));
        match answer {
            Ok(Ok(v)) => Response::new_ok(id, v),
            Ok(Err(mut r)) => {
                r.id = id;
                r
            }
            Err(_) => Response::new_err(
                id,
                ErrorCode::InternalError as i32,
                format!("advp lsp failed while answering `{method}` (a bug in advp; its message is in the server's log)"),
            ),
        }
    }

    fn answer(&mut self, req: Request) -> Result<serde_json::Value, Response> {
        use lsp::request as rq;
        match req.method.as_str() {
            rq::HoverRequest::METHOD => {
                let p: lsp::HoverParams = params(req.params)?;
                let at = &p.text_document_position_params;
                let hover = self
                    .locate(&at.text_document.uri, at.position)
                    .and_then(|(a, f, o)| features::hover(a, f, o, &|n| self.node_state(a, n)));
                json(&hover)
            }
            rq::Completion::METHOD => {
                let p: lsp::CompletionParams = params(req.params)?;
                let at = &p.text_document_position;
                let items = match (
                    self.docs.get(at.text_document.uri.as_str()),
                    self.analyses.get(at.text_document.uri.as_str()),
                ) {
                    (Some(doc), Some(a)) => {
                        let offset = text::Lines::new(&doc.text).offset(at.position);
                        let index = doc.parsed.as_ref().unwrap_or(&a.index);
                        complete::complete(index, &doc.text, offset)
                    }
                    _ => Vec::new(),
                };
                json(&lsp::CompletionResponse::Array(items))
            }
            rq::GotoDefinition::METHOD => {
                let p: lsp::GotoDefinitionParams = params(req.params)?;
                let at = &p.text_document_position_params;
                let loc = self
                    .locate(&at.text_document.uri, at.position)
                    .and_then(|(a, f, o)| features::definition(a, f, o));
                json(&loc.map(lsp::GotoDefinitionResponse::Scalar))
            }
            rq::References::METHOD => {
                let p: lsp::ReferenceParams = params(req.params)?;
                let at = &p.text_document_position;
                let locs: Vec<lsp::Location> = self
                    .locate(&at.text_document.uri, at.position)
                    .map(|(a, f, o)| {
                        features::references(a, f, o, p.context.include_declaration)
                            .into_iter()
                            .filter_map(|(file, span)| {
                                let uri = features::uri_of_file(a, file)?;
                                let t = &a.loaded.sources.file(file).text;
                                Some(lsp::Location::new(
                                    uri,
                                    text::Lines::new(t).range(span.start, span.end),
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                json(&locs)
            }
            rq::PrepareRenameRequest::METHOD => {
                let p: lsp::TextDocumentPositionParams = params(req.params)?;
                let range = self
                    .locate(&p.text_document.uri, p.position)
                    .and_then(|(a, f, o)| {
                        let occ = a.index.at(f, o)?;
                        a.index.decl(&occ.name)?;
                        let t = &a.loaded.sources.file(f).text;
                        Some(lsp::PrepareRenameResponse::Range(
                            text::Lines::new(t).range(occ.span.start, occ.span.end),
                        ))
                    });
                json(&range)
            }
            rq::Rename::METHOD => {
                let p: lsp::RenameParams = params(req.params)?;
                let at = &p.text_document_position;
                let Some((a, f, o)) = self.locate(&at.text_document.uri, at.position) else {
                    return json(&Option::<lsp::WorkspaceEdit>::None);
                };
                match features::rename(a, f, o, &p.new_name) {
                    Ok(changes) => json(&lsp::WorkspaceEdit {
                        changes: Some(changes),
                        ..Default::default()
                    }),
                    Err(why) => Err(Response::new_err(
                        req.id,
                        ErrorCode::InvalidRequest as i32,
                        why,
                    )),
                }
            }
            rq::DocumentSymbolRequest::METHOD => {
                let p: lsp::DocumentSymbolParams = params(req.params)?;
                let symbols = self
                    .analyses
                    .get(p.text_document.uri.as_str())
                    .map(features::symbols)
                    .unwrap_or_default();
                json(&lsp::DocumentSymbolResponse::Nested(symbols))
            }
            rq::Formatting::METHOD => {
                let p: lsp::DocumentFormattingParams = params(req.params)?;
                let edits = self
                    .docs
                    .get(p.text_document.uri.as_str())
                    .and_then(|d| features::format(&d.text));
                json(&edits)
            }
            rq::SemanticTokensFullRequest::METHOD => {
                let p: lsp::SemanticTokensParams = params(req.params)?;
                let tokens = self
                    .analyses
                    .get(p.text_document.uri.as_str())
                    .map(|a| features::semantic_tokens(a, a.loaded.main))
                    .unwrap_or_default();
                json(&lsp::SemanticTokensResult::Tokens(lsp::SemanticTokens {
                    result_id: None,
                    data: tokens,
                }))
            }
            other => Err(Response::new_err(
                req.id,
                ErrorCode::MethodNotFound as i32,
                format!("advp lsp does not answer `{other}`"),
            )),
        }
    }
}

fn publish(uri: &str, diagnostics: Vec<lsp::Diagnostic>) -> Notification {
    let uri: lsp::Uri = uri.parse().unwrap_or_else(|_| text::uri_of(Path::new("/")));
    Notification::new(
        lsp::notification::PublishDiagnostics::METHOD.to_string(),
        lsp::PublishDiagnosticsParams {
            uri,
            diagnostics,
            version: None,
        },
    )
}

/// An answer as JSON.
fn json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, Response> {
    Ok(serde_json::to_value(v).unwrap_or(serde_json::Value::Null))
}
