//! `advp lsp`, driven over stdio with JSON-RPC as an editor drives it.

use super::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc;
use std::time::Duration;

struct Client {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    incoming: mpsc::Receiver<Value>,
    next: i64,
    /// Notifications received while waiting for responses.
    notes: Vec<Value>,
}

impl Client {
    fn start(r: &Run) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_advp"))
            .arg("lsp")
            .current_dir(r.dir.path())
            .env_remove("LD_LIBRARY_PATH")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (tx, incoming) = mpsc::channel();
        std::thread::spawn(move || loop {
            let mut len = 0;
            loop {
                let mut line = String::new();
                if out.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim();
                if line.is_empty() {
                    break;
                }
                if let Some(n) = line.strip_prefix("Content-Length: ") {
                    len = n.parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            out.read_exact(&mut body).unwrap();
            if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                return;
            }
        });
        let mut c = Client {
            child,
            stdin,
            incoming,
            next: 1,
            notes: Vec::new(),
        };
        let root = format!("file://{}", r.dir.path().display());
        c.request("initialize", json!({ "capabilities": {}, "rootUri": root }));
        c.notify("initialized", json!({}));
        c
    }

    fn send(&mut self, msg: Value) {
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// The whole response (`result` or `error`).
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let msg = self
                .incoming
                .recv_timeout(Duration::from_secs(60))
                .expect("an answer in time");
            if msg["id"] == json!(id) {
                return msg;
            }
            self.notes.push(msg);
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params);
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        if let Some(i) = self.notes.iter().position(|n| {
            n["method"] == "textDocument/publishDiagnostics" && n["params"]["uri"] == uri
        }) {
            return self.notes.remove(i)["params"]["diagnostics"]
                .as_array()
                .unwrap()
                .clone();
        }
        loop {
            let msg = self
                .incoming
                .recv_timeout(Duration::from_secs(60))
                .expect("diagnostics in time");
            if msg["method"] == "textDocument/publishDiagnostics" && msg["params"]["uri"] == uri {
                return msg["params"]["diagnostics"].as_array().unwrap().clone();
            }
            self.notes.push(msg);
        }
    }
}

fn uri(r: &Run, name: &str) -> String {
    let p = r.dir.path().canonicalize().unwrap().join(name);
    format!("file://{}", p.display())
}

fn pos(text: &str, needle: &str, nth: usize) -> Value {
    let at = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("`{needle}` #{nth}"))
        .0
        + 1;
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
    json!({ "line": line, "character": col })
}

const LIB: &str = "data d = synthetic(classes: 4, frames: 4, size: 16, train: 8, test: 8)\n";
const MAIN: &str = "use \"stdlib/attacks.advp\"\nuse \"lib.advp\"\nmodel m = c3d_small(classes: d.classes, width: 4)\ntrain t = adversarial(m, d, attack: pgd_inf(steps: 2), epochz: 1)\neval e = robustness([t], d.test) {\n  budget sweep [0, 8]\n}\nreport e to \"e.md\"\n";

#[test]
fn the_language_server_diagnoses_as_check_does_and_answers_an_editor() {
    let r = Run::new();
    r.write("lib.advp", LIB);
    r.write("p.advp", MAIN);
    // What `advp check` says of the file.
    let o = r.advp(&["check", "--format", "json", "p.advp"]);
    let check: Value = serde_json::from_slice(&o.stdout).unwrap();
    let expected = &check["diagnostics"][0];
    assert_eq!(check["diagnostics"].as_array().unwrap().len(), 1, "{check}");

    let mut c = Client::start(&r);
    let p = uri(&r, "p.advp");
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": p, "languageId": "advp", "version": 1, "text": MAIN } }),
    );
    let diags = c.diagnostics(&p);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert_eq!(d["code"], expected["code"]);
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .starts_with(expected["message"].as_str().unwrap()),
        "{d} vs {expected}"
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains(&format!("help: {}", expected["help"].as_str().unwrap())),
        "{d}"
    );
    assert_eq!(
        d["range"]["start"],
        pos(MAIN, "epochz", 0)
            .as_object()
            .map(
                |o| json!({ "line": o["line"], "character": o["character"].as_u64().unwrap() - 1 })
            )
            .unwrap()
    );
    assert_eq!(d["severity"], 1);

    // As it is typed: fixed, then an error in the imported file, published there.
    let fixed = MAIN.replace("epochz", "epochs");
    c.notify("textDocument/didChange", json!({ "textDocument": { "uri": p, "version": 2 }, "contentChanges": [{ "text": fixed }] }));
    assert_eq!(c.diagnostics(&p), Vec::<Value>::new());
    let lib = uri(&r, "lib.advp");
    let bad_lib = LIB.replace("classes: 4", "classes: 1");
    c.notify("textDocument/didOpen", json!({ "textDocument": { "uri": lib, "languageId": "advp", "version": 1, "text": bad_lib } }));
    let in_lib = c.diagnostics(&lib);
    assert!(!in_lib.is_empty(), "the unsaved buffer of lib.advp is read");
    assert!(
        in_lib[0]["message"].as_str().unwrap().contains("classes"),
        "{in_lib:?}"
    );
    c.notify("textDocument/didChange", json!({ "textDocument": { "uri": lib, "version": 2 }, "contentChanges": [{ "text": LIB }] }));
    assert_eq!(c.diagnostics(&lib), Vec::<Value>::new());

    let at = |needle: &str, nth: usize| json!({ "textDocument": { "uri": p }, "position": pos(&fixed, needle, nth) });
    // Hover: a built-in, an argument, a node with its cache state.
    let h = c.request("textDocument/hover", at("adversarial", 0));
    let text = h["contents"]["value"].as_str().unwrap();
    assert!(
        text.contains("train adversarial(") && text.contains("| `epochs` |"),
        "{text}"
    );
    let h = c.request("textDocument/hover", at("epochs", 0));
    assert!(
        h["contents"]["value"]
            .as_str()
            .unwrap()
            .starts_with("`epochs` of `adversarial`"),
        "{h}"
    );
    let h = c.request("textDocument/hover", at("[t]", 0));
    let text = h["contents"]["value"].as_str().unwrap();
    assert!(
        text.contains("train node") && text.contains("cache: to run: never run"),
        "{text}"
    );
    let h = c.request("textDocument/hover", at("budget", 0));
    assert!(
        h["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("statement `budget` of `robustness`"),
        "{h}"
    );

    // Completion: argument names, statements, schedule forms, kinds.
    let typing = fixed.replace(
        "eval e = robustness([t], d.test) {\n  budget sweep [0, 8]\n}\n",
        "eval e = robustness([t], d.test, \n",
    );
    c.notify("textDocument/didChange", json!({ "textDocument": { "uri": p, "version": 3 }, "contentChanges": [{ "text": typing }] }));
    let _ = c.diagnostics(&p);
    let labels = |c: &mut Client, text: &str, needle: &str| -> Vec<String> {
        let end = text.find(needle).unwrap() + needle.len();
        let line = text[..end].matches('\n').count();
        let col = end - text[..end].rfind('\n').map_or(0, |i| i + 1);
        let items = c.request(
            "textDocument/completion",
            json!({ "textDocument": { "uri": p }, "position": { "line": line, "character": col } }),
        );
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_string())
            .collect()
    };
    let args = labels(&mut c, &typing, "d.test, ");
    assert!(
        args.contains(&"batch".to_string()) && !args.contains(&"models".to_string()),
        "{args:?}"
    );
    let block = fixed.replace("  budget sweep [0, 8]\n", "  budget \n");
    c.notify("textDocument/didChange", json!({ "textDocument": { "uri": p, "version": 4 }, "contentChanges": [{ "text": block }] }));
    let _ = c.diagnostics(&p);
    assert!(labels(&mut c, &block, "  budget ").contains(&"sweep".to_string()));
    assert!(labels(&mut c, &block, "\n  b").contains(&"attack".to_string()));
    assert!(labels(&mut c, &block, "\nev").contains(&"eval".to_string()));
    c.notify("textDocument/didChange", json!({ "textDocument": { "uri": p, "version": 5 }, "contentChanges": [{ "text": fixed }] }));
    let _ = c.diagnostics(&p);

    // Definitions: a preset in the stdlib (a read-only copy), a node in lib.advp.
    let def = c.request("textDocument/definition", at("pgd_inf", 0));
    let stdlib = def["uri"]
        .as_str()
        .unwrap()
        .strip_prefix("file://")
        .unwrap()
        .to_string();
    assert!(stdlib.ends_with("stdlib/attacks.advp"), "{def}");
    assert!(std::fs::metadata(&stdlib).unwrap().permissions().readonly());
    let line = def["range"]["start"]["line"].as_u64().unwrap() as usize;
    assert!(std::fs::read_to_string(&stdlib)
        .unwrap()
        .lines()
        .nth(line)
        .unwrap()
        .contains("pgd_inf"));
    let def = c.request("textDocument/definition", at("d.test", 0));
    assert_eq!(def["uri"], lib);
    assert_eq!(def["range"]["start"], json!({ "line": 0, "character": 5 }));

    // References and rename of `t`; a rename onto a taken name is refused.
    let refs = c.request("textDocument/references", json!({ "textDocument": { "uri": p }, "position": pos(&fixed, "t =", 0), "context": { "includeDeclaration": true } }));
    assert_eq!(refs.as_array().unwrap().len(), 2, "{refs}");
    let edit = c.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": p }, "position": pos(&fixed, "[t]", 0), "newName": "at" }),
    );
    assert_eq!(edit["changes"][&p].as_array().unwrap().len(), 2, "{edit}");
    let refused = c.call(
        "textDocument/rename",
        json!({ "textDocument": { "uri": p }, "position": pos(&fixed, "[t]", 0), "newName": "m" }),
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`m` is already declared"),
        "{refused}"
    );
    let refused = c.call("textDocument/rename", json!({ "textDocument": { "uri": p }, "position": pos(&fixed, "pgd_inf", 0), "newName": "x" }));
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stdlib"),
        "{refused}"
    );

    // Symbols, formatting (as `advp fmt`), semantic tokens.
    let symbols = c.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": p } }),
    );
    let names: Vec<&str> = symbols
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["m", "t", "e", "report e"]);
    let messy = fixed.replace(
        "model m = c3d_small(classes: d.classes, width: 4)",
        "model   m=c3d_small( classes:d.classes,width:4 )",
    );
    c.notify("textDocument/didChange", json!({ "textDocument": { "uri": p, "version": 6 }, "contentChanges": [{ "text": messy }] }));
    let _ = c.diagnostics(&p);
    let edits = c.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": p }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    r.write("messy.advp", &messy);
    let o = r.advp(&["fmt", "messy.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        edits[0]["newText"].as_str().unwrap(),
        std::fs::read_to_string(r.dir.path().join("messy.advp")).unwrap()
    );
    let tokens = c.request(
        "textDocument/semanticTokens/full",
        json!({ "textDocument": { "uri": p } }),
    );
    let data = tokens["data"].as_array().unwrap();
    assert!(
        data.len() > 50 && data.len().is_multiple_of(5),
        "{}",
        data.len()
    );

    // Text an editor sends: non-ASCII before the cursor, an unknown
    // request; a document opened through a link gets its diagnostics under
    // the URI the editor used.
    let accents = format!("{fixed}# café ε \n");
    c.notify("textDocument/didChange", json!({ "textDocument": { "uri": p, "version": 7 }, "contentChanges": [{ "text": accents }] }));
    let _ = c.diagnostics(&p);
    let line = accents.lines().count() - 1;
    let items = c.request(
        "textDocument/completion",
        json!({ "textDocument": { "uri": p }, "position": { "line": line, "character": 8 } }),
    );
    assert!(items.is_array(), "{items}");
    let unknown = c.call(
        "textDocument/inlayHint",
        json!({ "textDocument": { "uri": p } }),
    );
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    std::os::unix::fs::symlink(r.dir.path(), r.dir.path().join("link")).unwrap();
    r.write("q.advp", MAIN);
    let linked = format!("file://{}/link/q.advp", r.dir.path().display());
    c.notify("textDocument/didOpen", json!({ "textDocument": { "uri": linked, "languageId": "advp", "version": 1, "text": MAIN } }));
    let d = c.diagnostics(&linked);
    assert_eq!(d.len(), 1, "{d:?}");

    c.request("shutdown", Value::Null);
    c.notify("exit", Value::Null);
    let status = c.child.wait().unwrap();
    assert!(status.success());
}
