// The advp extension: the .advp language (grammar and editing rules come from
// package.json) and a client of `advp lsp`, the language server built into the
// advp binary, over stdio. Plain JavaScript: no build step.
'use strict';

const cp = require('child_process');
const os = require('os');
const path = require('path');
const vscode = require('vscode');
const {
  CloseAction,
  ErrorAction,
  LanguageClient,
  RevealOutputChannelOn,
} = require('vscode-languageclient/node');
const { foldingRanges } = require('./folding');

/** @type {LanguageClient | undefined} */
let client;
/** @type {vscode.OutputChannel | undefined} */
let output;
/** Starts and stops run one at a time, in order. */
let queue = Promise.resolve();

/**
 * The `advp` command `advp.path` names: `~` expanded, and a relative path with
 * a folder in it (`target/release/advp`) taken from the first workspace folder.
 * A bare name (`advp`) is left for the PATH.
 */
function serverCommand() {
  let command = vscode.workspace.getConfiguration('advp').get('path') || 'advp';
  command = command.trim();
  if (command === '~' || command.startsWith('~/') || command.startsWith('~\\')) {
    command = path.join(os.homedir(), command.slice(1));
  }
  const folders = vscode.workspace.workspaceFolders;
  if (!path.isAbsolute(command) && /[\\/]/.test(command) && folders && folders.length > 0) {
    command = path.join(folders[0].uri.fsPath, command);
  }
  return command;
}

/**
 * Runs `COMMAND lsp --help`: resolves to undefined when the binary is there and
 * knows `lsp`, else to a sentence saying what is wrong. A probe that only times
 * out lets the server start anyway.
 */
function probe(command) {
  return new Promise((resolve) => {
    cp.execFile(command, ['lsp', '--help'], { timeout: 10000, windowsHide: true }, (err, _stdout, stderr) => {
      if (!err) return resolve(undefined);
      if (err.code === 'ENOENT') return resolve('there is no such executable.');
      if (err.code === 'EACCES') return resolve('it is not executable.');
      if (err.killed) return resolve(undefined);
      if (typeof err.code === 'number') {
        const first = String(stderr || '').trim().split(/\r?\n/)[0];
        return resolve(
          `\`${path.basename(command)} lsp --help\` exited with code ${err.code}` +
            (first ? ` (${first})` : '') +
            ': this advp has no language server (it is older than `advp lsp`).',
        );
      }
      resolve(`${err.message}.`);
    });
  });
}

function showStartError(command, detail) {
  const openSettings = 'Open Settings';
  const showOutput = 'Show Output';
  vscode.window
    .showErrorMessage(
      `advp: could not start the language server \`${command} lsp\`: ${detail} ` +
        'Set `advp.path` to the advp binary, then run "advp: Restart Language Server".',
      openSettings,
      showOutput,
    )
    .then((choice) => {
      if (choice === openSettings) {
        return vscode.commands.executeCommand('workbench.action.openSettings', 'advp.path');
      }
      if (choice === showOutput && output) output.show(true);
      return undefined;
    });
}

/**
 * Restarts a server that stops after it ran (up to 4 times in 3 minutes, as
 * vscode-languageclient does by default), but never one that did not start:
 * that is a bad `advp.path`, and startClient says so once.
 */
function errorHandler(command, state) {
  const restarts = [];
  return {
    error: (_error, _message, count) => ({
      action: count && count <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
    }),
    closed: () => {
      if (!state.running) return { action: CloseAction.DoNotRestart, handled: true };
      const now = Date.now();
      restarts.push(now);
      while (restarts.length > 0 && now - restarts[0] > 3 * 60 * 1000) restarts.shift();
      if (restarts.length <= 4) return { action: CloseAction.Restart, handled: true };
      return {
        action: CloseAction.DoNotRestart,
        message:
          `The advp language server (\`${command} lsp\`) stopped 5 times in 3 minutes and is not restarted. ` +
          'See the advp output; check `advp.path`, then run "advp: Restart Language Server".',
      };
    },
  };
}

async function startClient() {
  const command = serverCommand();
  const problem = await probe(command);
  if (problem) {
    output.appendLine(`advp: not starting \`${command} lsp\` (the setting advp.path): ${problem}`);
    showStartError(command, problem);
    return;
  }
  const state = { running: false };
  const serverOptions = {
    command,
    args: ['lsp'],
    options: { cwd: workspaceRoot() },
  };
  const clientOptions = {
    documentSelector: [{ scheme: 'file', language: 'advp' }],
    outputChannel: output,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    errorHandler: errorHandler(command, state),
    // startClient reports a failed initialize itself (once, naming advp.path).
    initializationFailedHandler: () => false,
  };
  // 'advp' is also the configuration section the client reads `advp.trace.server` from.
  const next = new LanguageClient('advp', 'advp language server', serverOptions, clientOptions);
  client = next;
  try {
    await next.start();
    // start() also resolves when the server exits while it initializes.
    if (!next.isRunning()) {
      throw new Error('the server exited while it started (its messages are in the advp output)');
    }
    state.running = true;
    output.appendLine(`advp: language server started: ${command} lsp`);
  } catch (err) {
    if (client === next) client = undefined;
    const message = err && err.message ? err.message : String(err);
    output.appendLine(`advp: \`${command} lsp\` failed to start: ${message}`);
    showStartError(command, `${message}.`);
  }
}

async function stopClient() {
  const current = client;
  client = undefined;
  if (current) {
    try {
      await current.stop();
    } catch (err) {
      output.appendLine(`advp: stopping the language server: ${err && err.message ? err.message : err}`);
    }
  }
}

function workspaceRoot() {
  const folders = vscode.workspace.workspaceFolders;
  return folders && folders.length > 0 ? folders[0].uri.fsPath : undefined;
}

/** Runs `step` after every earlier start or stop has finished. */
function enqueue(step) {
  queue = queue.then(step, step);
  return queue;
}

function restart() {
  return enqueue(async () => {
    await stopClient();
    await startClient();
  });
}

/** @param {vscode.ExtensionContext} context */
function activate(context) {
  output = vscode.window.createOutputChannel('advp');
  context.subscriptions.push(output);

  context.subscriptions.push(vscode.commands.registerCommand('advp.restartServer', restart));

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('advp.path')) {
        restart();
      }
    }),
  );

  // Folding by brackets, with or without the server (VS Code's default is by indentation).
  context.subscriptions.push(
    vscode.languages.registerFoldingRangeProvider(
      { language: 'advp' },
      {
        provideFoldingRanges(document) {
          return foldingRanges(document.getText()).map(
            (r) =>
              new vscode.FoldingRange(
                r.start,
                r.end,
                r.kind === 'comment'
                  ? vscode.FoldingRangeKind.Comment
                  : r.kind === 'region'
                    ? vscode.FoldingRangeKind.Region
                    : undefined,
              ),
          );
        },
      },
    ),
  );

  // Not awaited: activation does not wait for the server.
  void enqueue(startClient);
}

function deactivate() {
  return enqueue(stopClient);
}

module.exports = { activate, deactivate };
