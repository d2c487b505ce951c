// node --test test/folding.test.js: the folding ranges folding.js gives VS Code.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { foldingRanges } = require('../folding');

test('a declaration with a wrapped call and a block folds twice', () => {
  const text = [
    'eval e = robustness(', // 0
    '  [benign],', // 1
    '  ucf.test,', // 2
    ') {', // 3
    '  attack pgd_inf(steps: 10)', // 4
    '  budget sweep [0, 4, 8]', // 5
    '}', // 6
  ].join('\n');
  assert.deepEqual(foldingRanges(text), [
    { start: 0, end: 2 },
    { start: 3, end: 5 },
  ]);
});

test('brackets in strings and comments do not count; one-line pairs do not fold', () => {
  const text = [
    'profile quick { # {', // 0
    '  data d = tensors(path: "a{(\\"[")', // 1
    '  seeds [1]', // 2
    '}', // 3
  ].join('\n');
  assert.deepEqual(foldingRanges(text), [{ start: 0, end: 2 }]);
});

test('runs of comment lines and regions fold', () => {
  const text = [
    '# one', // 0
    '# two', // 1
    '# three', // 2
    'seed 1', // 3
    '# region settings', // 4
    'device cpu', // 5
    'threads 2', // 6
    '# endregion', // 7
  ].join('\n');
  assert.deepEqual(foldingRanges(text), [
    { start: 0, end: 2, kind: 'comment' },
    { start: 4, end: 7, kind: 'region' },
  ]);
});

test('CRLF line ends and unbalanced brackets are fine', () => {
  assert.deepEqual(foldingRanges('train t = standard(\r\n  net,\r\n  d)\r\n}\r\n'), [{ start: 0, end: 1 }]);
  assert.deepEqual(foldingRanges('data d = synthetic(\n\n'), []);
});

test('every shipped pipeline folds each multi-line declaration', () => {
  const dir = path.join(__dirname, '..', '..', '..', 'pipelines');
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.advp'))) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    const lines = text.split('\n');
    const starts = new Set(foldingRanges(text).map((r) => r.start));
    lines.forEach((l, n) => {
      if (/[{(]\s*(#.*)?$/.test(l) && !l.trimStart().startsWith('#')) {
        assert.ok(starts.has(n), `${f}:${n + 1} opens a bracket but has no folding range: ${l}`);
      }
    });
  }
});
