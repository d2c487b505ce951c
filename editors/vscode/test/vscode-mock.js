// Just enough of the `vscode` module for extension.js and vscode-languageclient
// to start, talk to and stop a server under plain node (test/extension.test.js).
// Anything not modelled is a stub: callable, constructible, every property
// another stub, and never a thenable.
'use strict';

const Module = require('module');

function stub(name) {
  const target = function () {};
  return new Proxy(target, {
    get(t, prop) {
      if (prop === 'then') return undefined;
      if (prop === Symbol.toPrimitive) return () => `[stub ${name}]`;
      if (prop === Symbol.iterator) return undefined;
      if (typeof prop === 'symbol') return undefined;
      if (!(prop in t)) t[prop] = stub(`${name}.${String(prop)}`);
      return t[prop];
    },
    apply() {
      // Events (onDid…) and registrations hand back something disposable.
      return { dispose() {} };
    },
    construct() {
      return stub(`new ${name}`);
    },
  });
}

class Disposable {
  constructor(fn) {
    this._fn = fn;
  }
  static from(...ds) {
    return new Disposable(() => ds.forEach((d) => d && d.dispose && d.dispose()));
  }
  dispose() {
    if (this._fn) this._fn();
    this._fn = undefined;
  }
}

class EventEmitter {
  constructor() {
    this._listeners = new Set();
    this.event = (fn) => {
      this._listeners.add(fn);
      return new Disposable(() => this._listeners.delete(fn));
    };
  }
  fire(e) {
    for (const fn of [...this._listeners]) fn(e);
  }
  dispose() {
    this._listeners.clear();
  }
}

class FoldingRange {
  constructor(start, end, kind) {
    Object.assign(this, { start, end, kind });
  }
}

/** A fresh mock: `settings` maps `advp.path` etc. to values; `calls` records what the extension did. */
function create(settings) {
  const calls = { errors: [], output: [], commands: new Map(), configListeners: [], folding: [] };
  const channel = {
    name: 'advp',
    append: (s) => calls.output.push(String(s)),
    appendLine: (s) => calls.output.push(String(s) + '\n'),
    replace() {},
    clear() {},
    show() {},
    hide() {},
    dispose() {},
  };
  const overrides = {
    version: '1.85.0',
    Disposable,
    EventEmitter,
    FoldingRange,
    FoldingRangeKind: { Comment: 1, Imports: 2, Region: 3 },
    workspace: {
      workspaceFolders: undefined,
      textDocuments: [],
      notebookDocuments: [],
      getConfiguration(section) {
        return {
          get(key, def) {
            const full = section ? `${section}.${key}` : key;
            return full in settings ? settings[full] : def;
          },
          has: () => false,
          inspect: () => undefined,
          update: async () => {},
        };
      },
      onDidChangeConfiguration(fn) {
        calls.configListeners.push(fn);
        return new Disposable();
      },
    },
    window: {
      createOutputChannel: () => channel,
      async showErrorMessage(message) {
        calls.errors.push(message);
        return undefined;
      },
      async showWarningMessage() {
        return undefined;
      },
      async showInformationMessage() {
        return undefined;
      },
    },
    commands: {
      registerCommand(id, fn) {
        calls.commands.set(id, fn);
        return new Disposable(() => calls.commands.delete(id));
      },
      executeCommand: async () => undefined,
    },
    languages: {
      registerFoldingRangeProvider(selector, provider) {
        calls.folding.push(provider);
        return new Disposable();
      },
    },
  };
  const root = stub('vscode');
  const vscode = new Proxy(overrides, {
    get(t, prop) {
      if (prop in t) {
        const v = t[prop];
        if (v && typeof v === 'object' && !Array.isArray(v) && prop !== 'FoldingRangeKind') {
          // Namespaces: modelled members first, stubs for the rest.
          return new Proxy(v, { get: (o, p) => (p in o ? o[p] : root[prop][p]) });
        }
        return v;
      }
      return root[prop];
    },
  });
  return { vscode, calls };
}

/** Makes `require('vscode')` return `vscode` from now on. */
function install(vscode) {
  const load = Module._load;
  Module._load = function (request, ...rest) {
    if (request === 'vscode') return vscode;
    return load.call(this, request, ...rest);
  };
  return () => {
    Module._load = load;
  };
}

module.exports = { create, install };
