// Every shipped pipeline and stdlib file tokenizes with the grammar: the
// grammar never fails on them, every character but whitespace matches a rule,
// no token is `invalid.*`, every declaration,
// `use`, `report` and `profile` gets its keyword scope, and every string
// closes on its line (the grammar's state is back at the top after each line).
//   node test/tokenize-shipped.js            (from editors/vscode: pipelines/, stdlib/
//                                             and the ```advp blocks of docs/*.md)
//   node test/tokenize-shipped.js FILE…      (any .advp files; prints the tokens with -v)
'use strict';

const fs = require('fs');
const path = require('path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const here = path.join(__dirname, '..');
const root = path.join(here, '..', '..');

async function grammar() {
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve('vscode-oniguruma')), 'onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (sources) => new oniguruma.OnigScanner(sources),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== 'source.advp') return null;
      const file = path.join(here, 'syntaxes', 'advp.tmLanguage.json');
      return vsctm.parseRawGrammar(fs.readFileSync(file, 'utf8'), file);
    },
  });
  return registry.loadGrammar('source.advp');
}

/** The shipped .advp files, and each ```advp block of docs/*.md, as { name, text, line }. */
function shipped() {
  const sources = [];
  for (const dir of ['pipelines', 'stdlib']) {
    const full = path.join(root, dir);
    if (!fs.existsSync(full)) continue;
    for (const f of fs.readdirSync(full).sort()) {
      if (f.endsWith('.advp')) {
        const file = path.join(full, f);
        sources.push({ name: file, text: fs.readFileSync(file, 'utf8'), line: 0 });
      }
    }
  }
  const docs = path.join(root, 'docs');
  if (fs.existsSync(docs)) {
    for (const f of fs.readdirSync(docs).sort()) {
      if (!f.endsWith('.md')) continue;
      const file = path.join(docs, f);
      const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/);
      for (let n = 0; n < lines.length; n++) {
        if (lines[n].trim() !== '```advp') continue;
        const end = lines.findIndex((l, i) => i > n && l.trim() === '```');
        if (end < 0) break;
        sources.push({ name: file, text: lines.slice(n + 1, end).join('\n'), line: n + 1 });
        n = end;
      }
    }
  }
  return sources;
}

/** The line's tokens as [text, scopes] pairs. */
function tokenize(g, text) {
  let state = vsctm.INITIAL;
  const lines = text.split(/\r?\n/);
  const out = [];
  for (const line of lines) {
    const r = g.tokenizeLine(line, state);
    out.push({
      line,
      tokens: r.tokens.map((t) => [line.slice(t.startIndex, t.endIndex), t.scopes]),
      atTop: r.ruleStack.depth === 1,
      stoppedEarly: r.stoppedEarly,
    });
    state = r.ruleStack;
  }
  return out;
}

const EXPECT = [
  [/^\s*(data|model|attack|defense|rule|train|eval|analyze)\s+\w+\s*=/, 'keyword.declaration.'],
  [/^use\b/, 'keyword.control.import.advp'],
  [/^report\b/, 'keyword.other.report.advp'],
  [/^profile\b/, 'keyword.other.profile.advp'],
  // A statement word, not an argument of that name (`attacks: [` on its own line).
  [/^\s*(budget|attacks)\b(?!\s*:)/, 'keyword.other.statement.'],
  [/^\s*compare\b/, 'keyword.other.compare.advp'],
];

async function main() {
  const args = process.argv.slice(2);
  const verbose = args.includes('-v');
  const files = args.filter((a) => a !== '-v');
  const targets =
    files.length > 0
      ? files.map((f) => ({ name: f, text: fs.readFileSync(f, 'utf8'), line: 0 }))
      : shipped();
  if (targets.length === 0) throw new Error(`no .advp files under ${root}/pipelines or stdlib`);
  const g = await grammar();
  let failures = 0;
  const fail = (source, n, msg) => {
    failures++;
    console.error(`${path.relative(process.cwd(), source.name)}:${source.line + n + 1}: ${msg}`);
  };
  for (const file of targets) {
    const lines = tokenize(g, file.text);
    lines.forEach((l, n) => {
      if (verbose) {
        console.log(l.line);
        for (const [t, s] of l.tokens) console.log(`  ${JSON.stringify(t)} ${s.slice(1).join(' ')}`);
      }
      if (l.stoppedEarly) fail(file, n, 'tokenizing stopped early');
      if (!l.atTop) fail(file, n, 'the line leaves the grammar inside a rule (an unclosed string?)');
      for (const [t, s] of l.tokens) {
        if (s.some((x) => x.startsWith('invalid'))) fail(file, n, `${JSON.stringify(t)} is ${s.join(' ')}`);
        if (t.trim() !== '' && s.length < 2) fail(file, n, `${JSON.stringify(t)} matches no rule of the grammar`);
      }
      const first = l.tokens.find(([t]) => t.trim() !== '');
      for (const [re, scope] of EXPECT) {
        if (re.test(l.line) && !(first && first[1].some((x) => x.startsWith(scope)))) {
          fail(file, n, `${JSON.stringify(first && first[0])} should be ${scope}… but is ${first && first[1].join(' ')}`);
        }
      }
    });
  }
  if (failures > 0) {
    console.error(`tokenize-shipped: ${failures} problem(s)`);
    process.exit(1);
  }
  const blocks = targets.filter((t) => t.name.endsWith('.md')).length;
  console.log(
    `tokenize-shipped: ${targets.length - blocks} .advp files and ${blocks} \`\`\`advp blocks of docs/ tokenize cleanly`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
