// One activation of extension.js in a process of its own (for the cases where
// vscode-languageclient leaves promises rejected unhandled, which VS Code only
// logs but node:test counts as failures):
//   node test/harness.js ADVP_PATH
// with FAKE_ADVP_MODE and FAKE_ADVP_LOG for test/fake-server.js. Waits for the
// server to start or for an error, then 1 s more, deactivates and prints
// { errors, output, unhandled } as JSON.
'use strict';

const mock = require('./vscode-mock');

const unhandled = [];
process.on('unhandledRejection', (e) => unhandled.push(String(e && e.message ? e.message : e)));

async function main() {
  const { vscode, calls } = mock.create({ 'advp.path': process.argv[2] });
  mock.install(vscode);
  const extension = require('../extension');
  extension.activate({ subscriptions: [] });
  const start = Date.now();
  const settled = () =>
    calls.errors.length > 0 || calls.output.join('').includes('language server started');
  while (!settled() && Date.now() - start < 10000) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 1000));
  await extension.deactivate();
  process.stdout.write(JSON.stringify({ errors: calls.errors, output: calls.output.join(''), unhandled }));
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
