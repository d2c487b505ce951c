// node --test test/extension.test.js: extension.js with the real
// vscode-languageclient against a stand-in server (test/fake-server.js), under
// a mock of the `vscode` module (test/vscode-mock.js). Checks that it runs
// `<advp.path> lsp` over stdio, stops it on deactivate, restarts it on the
// command, and names `advp.path` when the binary is missing or exits at once.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const mock = require('./vscode-mock');

const skip = process.platform === 'win32' ? 'the stand-in server is a shell script' : false;

function fakeBinary(dir) {
  const bin = path.join(dir, 'advp');
  fs.writeFileSync(
    bin,
    `#!/bin/sh\nexec "${process.execPath}" "${path.join(__dirname, 'fake-server.js')}" "$@"\n`,
    { mode: 0o755 },
  );
  return bin;
}

function readLog(file) {
  return fs.existsSync(file)
    ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
    : [];
}

async function until(what, check, ms = 10000) {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Loads a fresh extension.js against a fresh mock with `settings`. */
function load(settings, env) {
  const { vscode, calls } = mock.create(settings);
  const uninstall = mock.install(vscode);
  const saved = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  for (const key of Object.keys(require.cache)) {
    if (key.includes(`${path.sep}vscode-languageclient${path.sep}`) || key.endsWith(`${path.sep}extension.js`)) {
      delete require.cache[key];
    }
  }
  const extension = require('../extension');
  const context = { subscriptions: [] };
  const done = () => {
    uninstall();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  return { extension, context, calls, done };
}

test('starts `advp lsp`, restarts on the command and stops on deactivate', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advp-vscode-'));
  const logFile = path.join(dir, 'log.jsonl');
  const { extension, context, calls, done } = load(
    { 'advp.path': fakeBinary(dir) },
    { FAKE_ADVP_LOG: logFile, FAKE_ADVP_MODE: 'ok' },
  );
  try {
    extension.activate(context);
    await until('the server to start', () => calls.output.join('').includes('language server started'));
    let log = readLog(logFile);
    assert.deepEqual(log[0], { argv: ['lsp', '--help'] }, 'the probe');
    assert.deepEqual(log[1], { argv: ['lsp'] }, 'the server');
    assert.ok(log.some((e) => e.method === 'initialize'), JSON.stringify(log));
    await until('initialized', () => readLog(logFile).some((e) => e.method === 'initialized'));

    assert.ok(calls.commands.has('advp.restartServer'));
    await calls.commands.get('advp.restartServer')();
    log = readLog(logFile);
    assert.equal(log.filter((e) => e.argv && e.argv.join(' ') === 'lsp').length, 2, JSON.stringify(log));
    assert.ok(log.some((e) => e.method === 'shutdown'), 'the restart shut the first server down');

    await extension.deactivate();
    // The client sends `exit` and does not wait for the process to read it.
    await until('both servers to get `exit`', () => readLog(logFile).filter((e) => e.method === 'exit').length === 2);
    assert.deepEqual(calls.errors, []);
    assert.equal(calls.folding.length, 1, 'a folding provider is registered');
  } finally {
    done();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing binary is an error that names advp.path', { skip }, async () => {
  const { extension, context, calls, done } = load({ 'advp.path': '/nonexistent/advp' }, {});
  try {
    extension.activate(context);
    await until('an error message', () => calls.errors.length > 0);
    assert.match(calls.errors[0], /advp\.path/);
    assert.match(calls.errors[0], /\/nonexistent\/advp lsp/);
    assert.match(calls.errors[0], /no such executable/);
    await extension.deactivate();
  } finally {
    done();
  }
});

test('an advp without `lsp` (exits at once) is an error that names advp.path', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advp-vscode-'));
  const logFile = path.join(dir, 'log.jsonl');
  const { extension, context, calls, done } = load(
    { 'advp.path': fakeBinary(dir) },
    { FAKE_ADVP_LOG: logFile, FAKE_ADVP_MODE: 'old' },
  );
  try {
    extension.activate(context);
    await until('an error message', () => calls.errors.length > 0);
    assert.equal(calls.errors.length, 1, calls.errors.join('\n'));
    assert.match(calls.errors[0], /advp\.path/);
    assert.match(calls.errors[0], /exited with code 2 \(error: unrecognized subcommand 'lsp'\)/);
    assert.deepEqual(readLog(logFile), [{ argv: ['lsp', '--help'] }], 'only the probe ran');
    await extension.deactivate();
  } finally {
    done();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function runHarness(mode) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advp-vscode-'));
  const logFile = path.join(dir, 'log.jsonl');
  try {
    const out = require('child_process').execFileSync(
      process.execPath,
      [path.join(__dirname, 'harness.js'), fakeBinary(dir)],
      { env: { ...process.env, FAKE_ADVP_LOG: logFile, FAKE_ADVP_MODE: mode }, timeout: 30000 },
    );
    return { ...JSON.parse(out.toString('utf8')), log: readLog(logFile) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a server that exits while it starts is reported once and not restarted', { skip }, () => {
  const r = runHarness('crash');
  const ours = r.errors.filter((e) => e.startsWith('advp: '));
  assert.equal(ours.length, 1, r.errors.join('\n'));
  assert.match(ours[0], /exited while it started/);
  assert.match(ours[0], /advp\.path/);
  assert.ok(r.output.includes('cannot read the standard library'), r.output);
  assert.equal(r.log.filter((e) => e.argv && e.argv.join(' ') === 'lsp').length, 1, 'no restart');
  assert.ok(!r.output.includes('language server started'), r.output);
});

test('a server that crashes while it runs is restarted quietly', { skip }, () => {
  const r = runHarness('die-once');
  assert.deepEqual(r.errors, []);
  assert.equal(r.log.filter((e) => e.argv && e.argv.join(' ') === 'lsp').length, 2, JSON.stringify(r.log));
  assert.equal(r.log.filter((e) => e.method === 'initialized').length, 2, JSON.stringify(r.log));
  assert.deepEqual(r.unhandled, []);
});
