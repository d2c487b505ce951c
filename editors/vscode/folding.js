// Folding ranges for .advp text, without VS Code (so `npm test` can test it):
// every bracket pair `{}` `[]` `()` over more than one line, runs of comment
// lines, and `# region` … `# endregion` markers. Strings and comments are
// skipped when matching brackets. Lines count from 0; a range ends on the line
// before its closing bracket, so the bracket stays visible.
'use strict';

const OPEN = { '{': '}', '[': ']', '(': ')' };
const CLOSE = new Set(['}', ']', ')']);
const REGION_START = /^\s*#\s*region\b/;
const REGION_END = /^\s*#\s*endregion\b/;

/**
 * @param {string} text
 * @returns {{ start: number, end: number, kind?: 'comment' | 'region' }[]}
 */
function foldingRanges(text) {
  /** @type {Map<number, { start: number, end: number, kind?: 'comment' | 'region' }>} */
  const byStart = new Map();
  const add = (start, end, kind) => {
    if (end <= start) return;
    const old = byStart.get(start);
    if (!old || end > old.end) byStart.set(start, kind ? { start, end, kind } : { start, end });
  };

  // Brackets, skipping strings (which end at their line) and comments.
  const stack = [];
  let line = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      line++;
    } else if (c === '#') {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if (c === '"') {
      while (i + 1 < text.length && text[i + 1] !== '\n') {
        i++;
        if (text[i] === '\\' && i + 1 < text.length && text[i + 1] !== '\n') i++;
        else if (text[i] === '"') break;
      }
    } else if (OPEN[c]) {
      stack.push({ close: OPEN[c], line });
    } else if (CLOSE.has(c)) {
      // An unbalanced closer pops up to its opener, if there is one.
      const at = stack.map((o) => o.close).lastIndexOf(c);
      if (at >= 0) {
        const open = stack[at];
        stack.length = at;
        add(open.line, line - 1);
      }
    }
  }

  // Comment runs and regions, line by line.
  const lines = text.split(/\r?\n/);
  const regions = [];
  let runStart = -1;
  for (let n = 0; n <= lines.length; n++) {
    const l = n < lines.length ? lines[n] : '';
    const isComment = n < lines.length && /^\s*#/.test(l);
    if (REGION_START.test(l)) {
      regions.push(n);
    } else if (REGION_END.test(l) && regions.length > 0) {
      add(regions.pop(), n, 'region');
    }
    const plainComment = isComment && !REGION_START.test(l) && !REGION_END.test(l);
    if (plainComment && runStart < 0) runStart = n;
    if (!plainComment && runStart >= 0) {
      add(runStart, n - 1, 'comment');
      runStart = -1;
    }
  }

  return [...byStart.values()].sort((a, b) => a.start - b.start);
}

module.exports = { foldingRanges };
