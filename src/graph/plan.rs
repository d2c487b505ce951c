//! `plan(program) -> Plan`: the dependency DAG, cycles reported as whole paths.

use crate::language::ast::DeclKind;
use crate::language::diagnostic::{Code, Diagnostic};
use crate::language::program::{Dep, Program};
use crate::util::printable;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{BTreeSet, HashMap};

pub struct Plan {
    /// Edges point from what is read to what reads it; weights index `program.nodes`.
    pub graph: DiGraph<usize, ()>,
    /// Node indices (into `program.nodes`) in dependency order, ties in declaration order.
    pub order: Vec<usize>,
}

pub fn plan(program: &Program) -> Result<Plan, Vec<Diagnostic>> {
    let mut graph = DiGraph::new();
    let mut index: HashMap<&str, NodeIndex> = HashMap::new();
    for (i, n) in program.nodes.iter().enumerate() {
        index.insert(n.name.as_str(), graph.add_node(i));
    }
    // One edge per pair; the first reference is the one diagnostics point at.
    let mut edge_refs: HashMap<(usize, usize), &Dep> = HashMap::new();
    for (i, n) in program.nodes.iter().enumerate() {
        let to = index[n.name.as_str()];
        for d in &n.deps {
            if let Some(&from) = index.get(d.name.as_str()) {
                if let std::collections::hash_map::Entry::Vacant(v) =
                    edge_refs.entry((graph[from], i))
                {
                    v.insert(d);
                    graph.add_edge(from, to, ());
                }
            }
        }
    }
    let mut errors = Vec::new();
    for scc in petgraph::algo::tarjan_scc(&graph) {
        let cyclic = scc.len() > 1 || graph.find_edge(scc[0], scc[0]).is_some();
        if !cyclic {
            continue;
        }
        errors.push(cycle_diagnostic(program, &graph, &scc, &edge_refs));
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| (e.file, e.span.start));
        return Err(errors);
    }
    let order = stable_topo(&graph);
    Ok(Plan { graph, order })
}

/// Kahn's algorithm taking the earliest-declared ready node first, so output is stable.
fn stable_topo(graph: &DiGraph<usize, ()>) -> Vec<usize> {
    let mut indegree: Vec<usize> = graph
        .node_indices()
        .map(|n| graph.neighbors_directed(n, petgraph::Incoming).count())
        .collect();
    let mut ready: BTreeSet<(usize, NodeIndex)> = graph
        .node_indices()
        .filter(|n| indegree[n.index()] == 0)
        .map(|n| (graph[n], n))
        .collect();
    let mut order = Vec::with_capacity(indegree.len());
    while let Some(first) = ready.pop_first() {
        order.push(first.0);
        for m in graph.neighbors_directed(first.1, petgraph::Outgoing) {
            let d = &mut indegree[m.index()];
            *d -= 1;
            if *d == 0 {
                ready.insert((graph[m], m));
            }
        }
    }
    order
}

/// "a → b → a", pointing at the reference that closes the cycle.
fn cycle_diagnostic(
    program: &Program,
    graph: &DiGraph<usize, ()>,
    scc: &[NodeIndex],
    refs: &HashMap<(usize, usize), &Dep>,
) -> Diagnostic {
    let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
    let start = *scc
        .iter()
        .min_by_key(|n| graph[**n])
        .expect("non-empty scc");
    // Walk "reads" edges (incoming in the graph) from start until we return to it.
    let mut path = vec![start];
    let mut seen = BTreeSet::from([start]);
    let mut cur = start;
    loop {
        let mut next: Vec<NodeIndex> = graph
            .neighbors_directed(cur, petgraph::Incoming)
            .filter(|n| members.contains(n))
            .collect();
        next.sort_by_key(|n| graph[*n]);
        if next.contains(&start) {
            break;
        }
        match next.into_iter().find(|n| !seen.contains(n)) {
            Some(n) => {
                seen.insert(n);
                path.push(n);
                cur = n;
            }
            None => break,
        }
    }
    let names: Vec<&str> = path
        .iter()
        .chain(std::iter::once(&start))
        .map(|n| program.nodes[graph[*n]].name.as_str())
        .collect();
    let last = graph[*path.last().expect("path has a node")];
    let closing = &refs[&(graph[start], last)];
    let mut d = Diagnostic::new(
        Code::Cycle,
        closing.file,
        closing.span,
        format!("dependency cycle: {}", names.join(" → ")),
    )
    .label(format!(
        "`{}` reads `{}`, closing the cycle",
        program.nodes[last].name, names[0]
    ));
    for w in path.windows(2) {
        let (reader, read) = (graph[w[0]], graph[w[1]]);
        if let Some(r) = refs.get(&(read, reader)) {
            if r.file == closing.file {
                d = d.also(
                    r.span,
                    format!(
                        "`{}` reads `{}`",
                        program.nodes[reader].name, program.nodes[read].name
                    ),
                );
            }
        }
    }
    let kinds: BTreeSet<DeclKind> = path.iter().map(|n| program.nodes[graph[*n]].kind).collect();
    let hint = if kinds.contains(&DeclKind::Train) {
        "a train node cannot start from its own result; start it from a `model` declaration"
    } else {
        "each node must be computable from nodes before it; remove one of these references"
    };
    d.help(hint)
}

impl Plan {
    /// The nodes each node reads, by program index.
    pub fn inputs(&self, i: usize) -> Vec<usize> {
        // Nodes were added in program order, so graph index i is program node i.
        let mut v: Vec<usize> = self
            .graph
            .neighbors_directed(NodeIndex::new(i), petgraph::Incoming)
            .map(|n| self.graph[n])
            .collect();
        v.sort();
        v
    }

    /// The graph as text: one node per line, in execution order, with what it reads.
    pub fn to_text(&self, program: &Program, status: &dyn Fn(usize) -> Option<String>) -> String {
        let mut out = String::new();
        let profile = program
            .profile
            .as_ref()
            .map_or(String::new(), |p| format!(" (profile {p})"));
        out.push_str(&format!(
            "{}{}: {} nodes, {} edges\n",
            printable(&program.name()),
            profile,
            self.graph.node_count(),
            self.graph.edge_count()
        ));
        let w = program
            .nodes
            .iter()
            .map(|n| n.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        for &i in &self.order {
            let n = &program.nodes[i];
            let inputs: Vec<&str> = self
                .inputs(i)
                .iter()
                .map(|&j| program.nodes[j].name.as_str())
                .collect();
            let reads = if inputs.is_empty() {
                String::new()
            } else {
                format!("  ← {}", inputs.join(", "))
            };
            let st = status(i).map_or(String::new(), |s| format!("[{s}] "));
            out.push_str(&format!(
                "{st}{:<8} {:<w$} = {}{reads}\n",
                n.kind.as_str(),
                n.name,
                n.builtin
            ));
        }
        for r in &program.reports {
            let mode = r.mode.as_ref().map_or(String::new(), |m| format!(" {m}"));
            let paths: Vec<_> = r.paths.iter().map(|p| printable(p)).collect();
            out.push_str(&format!(
                "report  {}{} → {}\n",
                r.target,
                printable(&mode),
                paths.join(", ")
            ));
        }
        out
    }

    /// The graph as Graphviz DOT.
    pub fn to_dot(&self, program: &Program, status: &dyn Fn(usize) -> Option<String>) -> String {
        let mut out = format!(
            "digraph {} {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
            dot_id(&program.name())
        );
        for &i in &self.order {
            let n = &program.nodes[i];
            let st = status(i).map_or(String::new(), |s| format!("\\n[{s}]"));
            let shape = match n.kind {
                DeclKind::Data => "cylinder",
                DeclKind::Attack | DeclKind::Rule => "ellipse",
                DeclKind::Eval | DeclKind::Analyze => "component",
                _ => "box",
            };
            out.push_str(&format!(
                "  {} [label=\"{} {}\\n{}{}\", shape={}];\n",
                dot_id(&n.name),
                n.kind.as_str(),
                n.name,
                n.builtin,
                st,
                shape
            ));
        }
        for e in self.graph.edge_indices() {
            let (a, b) = self.graph.edge_endpoints(e).expect("edge has ends");
            out.push_str(&format!(
                "  {} -> {};\n",
                dot_id(&program.nodes[self.graph[a]].name),
                dot_id(&program.nodes[self.graph[b]].name)
            ));
        }
        for (k, r) in program.reports.iter().enumerate() {
            let id = format!("report_{k}");
            out.push_str(&format!(
                "  {id} [label=\"report\\n{}\", shape=note];\n  {} -> {id};\n",
                r.paths
                    .iter()
                    .map(|p| dot_text(p))
                    .collect::<Vec<_>>()
                    .join("\\n"),
                dot_id(&r.target)
            ));
        }
        out.push_str("}\n");
        out
    }
}

fn dot_id(s: &str) -> String {
    format!("\"{}\"", dot_text(s))
}

/// Text inside a DOT string: a quote or backslash escaped for DOT, a control
/// character shown as `escape_debug` writes it (`\n` reads as two characters
/// in the drawing), so no text can end the string or start a line of the file.
fn dot_text(s: &str) -> String {
    printable(s).replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dot_string_holds_no_line_break_and_no_unescaped_quote() {
        // What a checked file can no longer hold (a report path with a
        // control character) is still written as one DOT string.
        let s = super::dot_text("a\nrm -rf ~\"x\u{1b}[2J\\.md");
        assert_eq!(s, r#"a\\nrm -rf ~\"x\\u{1b}[2J\\.md"#);
        assert!(!s.chars().any(char::is_control));
        // Every quote inside is escaped: the string cannot end early.
        let bytes = s.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'"' {
                let slashes = bytes[..i].iter().rev().take_while(|&&c| c == b'\\').count();
                assert_eq!(slashes % 2, 1, "an unescaped quote in {s}");
            }
        }
    }
}
