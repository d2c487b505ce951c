// A stand-in for `advp lsp` (test/extension.test.js): LSP over stdio, just
// initialize, shutdown and exit. Appends what it gets to $FAKE_ADVP_LOG, one
// JSON line each. FAKE_ADVP_MODE=old acts like an advp without `lsp`: a usage
// error on stderr and exit code 2. FAKE_ADVP_MODE=crash knows `lsp --help` but
// exits with code 1 as soon as it runs. FAKE_ADVP_MODE=die-once exits after its
// first `initialized` (a crash while running), then runs normally.
'use strict';

const fs = require('fs');

const log = (entry) => fs.appendFileSync(process.env.FAKE_ADVP_LOG, JSON.stringify(entry) + '\n');
log({ argv: process.argv.slice(2) });

if (process.env.FAKE_ADVP_MODE === 'old') {
  process.stderr.write("error: unrecognized subcommand 'lsp'\n");
  process.exit(2);
}
if (process.argv.includes('--help')) {
  process.stdout.write('Usage: advp lsp\n');
  process.exit(0);
}
if (process.env.FAKE_ADVP_MODE === 'crash') {
  process.stderr.write('advp lsp: cannot read the standard library\n');
  process.exit(1);
}

function send(message) {
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...message }), 'utf8');
  process.stdout.write(`Content-Length: ${body.length}\r\n\r\n`);
  process.stdout.write(body);
}

let buffer = Buffer.alloc(0);
process.stdin.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    const headerEnd = buffer.indexOf('\r\n\r\n');
    if (headerEnd < 0) return;
    const header = buffer.slice(0, headerEnd).toString('ascii');
    const m = /Content-Length: (\d+)/i.exec(header);
    const length = m ? Number(m[1]) : 0;
    if (buffer.length < headerEnd + 4 + length) return;
    const message = JSON.parse(buffer.slice(headerEnd + 4, headerEnd + 4 + length).toString('utf8'));
    buffer = buffer.slice(headerEnd + 4 + length);
    log({ method: message.method });
    if (message.method === 'initialize') {
      send({ id: message.id, result: { capabilities: { textDocumentSync: 1 }, serverInfo: { name: 'fake advp' } } });
    } else if (message.method === 'shutdown') {
      send({ id: message.id, result: null });
    } else if (message.method === 'initialized' && process.env.FAKE_ADVP_MODE === 'die-once') {
      const marker = process.env.FAKE_ADVP_LOG + '.died';
      if (!fs.existsSync(marker)) {
        fs.writeFileSync(marker, '');
        process.exit(1);
      }
    } else if (message.method === 'exit') {
      process.exit(0);
    } else if (message.id !== undefined) {
      send({ id: message.id, error: { code: -32601, message: 'not in the fake' } });
    }
  }
});
process.stdin.on('end', () => process.exit(0));
