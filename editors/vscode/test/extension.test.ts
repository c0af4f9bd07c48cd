import assert = require("node:assert/strict");
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, test } from "node:test";

import * as ext from "../src/extension";
import * as lc from "./fakeLanguageClient";
import * as vscode from "./fakeVscode";

const packageJSON = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));

let tmp: string;
let savedPath: string | undefined;

function fakeContext(): any {
  return { subscriptions: [] as { dispose(): void }[], extension: { packageJSON } };
}

/** Puts an executable `qwen-ls` in a temporary directory and returns its path. */
function installFakeServer(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "qwen-ls");
  fs.writeFileSync(file, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  return file;
}

beforeEach(() => {
  vscode.reset();
  lc.reset();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "qwen-vscode-"));
  savedPath = process.env.PATH;
  process.env.PATH = path.join(tmp, "empty");
});

afterEach(async () => {
  await ext.deactivate();
  process.env.PATH = savedPath;
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("activation starts `qwen-ls serve` with the user's settings as initializationOptions", async () => {
  const server = installFakeServer(path.join(tmp, "bin"));
  vscode.state.settings = {
    serverPath: server,
    serverArgs: ["--tcp-free-flag"],
    "completion.maxTokens": 24,
    "context.similar": false,
    model: "qwen2.5-coder-0.5b",
  };
  await ext.activate(fakeContext());
  assert.equal(lc.clients.length, 1);
  const client = lc.clients[0];
  assert.equal(client.id, "qwen");
  assert.deepEqual(client.serverOptions, { command: server, args: ["serve", "--tcp-free-flag"] });
  assert.deepEqual(client.clientOptions.initializationOptions, {
    completion: { maxTokens: 24 },
    context: { similar: false },
    model: "qwen2.5-coder-0.5b",
  });
  assert.ok(client.running);
  for (const id of packageJSON.contributes.commands.map((c: { command: string }) => c.command)) {
    assert.ok(vscode.state.commands.has(id), `command ${id} registered`);
  }
});

test("the server is found in the active Python environment, then on PATH", async () => {
  const venvServer = installFakeServer(path.join(tmp, "venv", "bin"));
  vscode.state.extensions.set("ms-python.python", {
    isActive: true,
    exports: {
      environments: {
        getActiveEnvironmentPath: () => ({ path: path.join(tmp, "venv", "bin", "python") }),
        resolveEnvironment: async (e: { path: string }) => ({ executable: { uri: { fsPath: e.path } } }),
      },
    },
  });
  await ext.activate(fakeContext());
  assert.equal(lc.clients[0].serverOptions.command, venvServer);
  await ext.deactivate();

  vscode.reset();
  lc.reset();
  const pathServer = installFakeServer(path.join(tmp, "onpath"));
  process.env.PATH = path.join(tmp, "onpath");
  await ext.activate(fakeContext());
  assert.equal(lc.clients[0].serverOptions.command, pathServer);
});

test("a missing server shows the exact fix and no client is started", async () => {
  vscode.state.errorChoice = "Open Settings";
  const e = await ext.activate(fakeContext());
  assert.equal(lc.clients.length, 0);
  assert.equal(vscode.state.errors.length, 1);
  assert.match(vscode.state.errors[0], /"qwen-ls" was not found .*Install it with: git clone \S+ && python3 -m pip install \.\/qwen-ls /);
  assert.match(e.statusItem.text, /warning/);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    vscode.state.executed.find((x) => x.command === "workbench.action.openSettings"),
    { command: "workbench.action.openSettings", args: ["qwen.serverPath"] },
  );
  // commands that need the server say why they cannot run
  await vscode.commands.executeCommand("qwenLs.stats");
  assert.match(vscode.state.errors[1], /was not found/);
});

test("qwen/status drives the status bar; malformed ones are logged and ignored", async () => {
  vscode.state.settings = { serverPath: installFakeServer(path.join(tmp, "bin")) };
  const e = await ext.activate(fakeContext());
  const client = lc.clients[0];
  client.notify("qwen/status", { state: "ready", model: "/m/qwen-0.5b.gguf", lastLatencyMs: 87 });
  assert.equal(e.statusItem.text, "$(sparkle) Qwen qwen-0.5b · 87 ms");
  client.notify("qwen/status", { state: "error", model: "/m/qwen-0.5b.gguf", message: "out of memory" });
  assert.equal((e.statusItem.backgroundColor as vscode.ThemeColor).id, "statusBarItem.errorBackground");
  client.notify("qwen/status", { state: "nonsense" });
  assert.match(e.statusItem.tooltip as string, /out of memory/);
  assert.ok(vscode.state.logs.some((l) => l.includes("malformed qwen/status")));
});

test("settings changes are pushed live; serverPath changes restart the server", async () => {
  const server = installFakeServer(path.join(tmp, "bin"));
  vscode.state.settings = { serverPath: server };
  const e = await ext.activate(fakeContext());
  const client = lc.clients[0];
  await vscode.changeSetting("completion.deadlineMs", 900);
  assert.deepEqual(client.notifications.at(-1), {
    method: "workspace/didChangeConfiguration",
    params: { settings: { qwen: { completion: { deadlineMs: 900 } } } },
  });
  // workspace/configuration answers with the same object
  const answer = await client.clientOptions.middleware.workspace.configuration(
    { items: [{ section: "qwen" }, { section: "qwen.completion" }] },
    undefined,
    () => [],
  );
  assert.deepEqual(answer, [{ completion: { deadlineMs: 900 } }, { deadlineMs: 900 }]);

  const other = installFakeServer(path.join(tmp, "bin2"));
  await vscode.changeSetting("serverPath", other);
  assert.ok(client.stopped);
  assert.equal(lc.clients.length, 2);
  assert.equal(lc.clients[1].serverOptions.command, other);
  assert.equal(e.client, lc.clients[1] as unknown);
});

test("disable/enable commands write qwen.enable and the middleware stops asking", async () => {
  vscode.state.settings = { serverPath: installFakeServer(path.join(tmp, "bin")) };
  await ext.activate(fakeContext());
  const client = lc.clients[0];
  await vscode.commands.executeCommand("qwenLs.disable");
  assert.equal(vscode.state.settings.enable, false);
  assert.deepEqual(client.notifications.at(-1)?.params, { settings: { qwen: { enable: false } } });
  let asked = false;
  const result = await client.clientOptions.middleware.provideInlineCompletionItems(
    { uri: "file:///a.py", version: 1 },
    { line: 0, character: 0 },
    {},
    new vscode.CancellationTokenSource().token,
    () => {
      asked = true;
      return [];
    },
  );
  assert.equal(result, null);
  assert.equal(asked, false);
  await vscode.commands.executeCommand("qwenLs.toggle");
  assert.equal(vscode.state.settings.enable, true);
});

test("explain context and stats call the server commands and open a document", async () => {
  vscode.state.settings = { serverPath: installFakeServer(path.join(tmp, "bin")) };
  await ext.activate(fakeContext());
  const client = lc.clients[0];
  lc.behaviour.requestResults.set("qwen.explainContext", {
    snippets: [{ path: "src/util.py", source: "imports", score: 0.5, text: "def helper(): ..." }],
    budgetTokens: 512,
  });
  lc.behaviour.requestResults.set("qwen.stats", { requests: 3, p50Ms: 120 });
  vscode.state.activeTextEditor = {
    document: { uri: { toString: () => "file:///w/a.py" } },
    selection: { active: { line: 4, character: 2 } },
  };
  await vscode.commands.executeCommand("qwenLs.explainContext");
  assert.deepEqual(client.requests[0], {
    method: "workspace/executeCommand",
    params: { command: "qwen.explainContext", arguments: ["file:///w/a.py", { line: 4, character: 2 }] },
  });
  const md = vscode.state.openedDocuments[0].content ?? "";
  assert.match(md, /## 1\. src\/util\.py · imports \(score 0\.500\)/);
  assert.match(md, /def helper\(\): \.\.\./);
  assert.match(md, /"budgetTokens": 512/);

  await vscode.commands.executeCommand("qwenLs.stats");
  assert.equal(client.requests[1].params && (client.requests[1].params as { command: string }).command, "qwen.stats");
  assert.deepEqual(JSON.parse(vscode.state.openedDocuments[1].content ?? ""), { requests: 3, p50Ms: 120 });
});

test("the completion menu is left to ghost text unless inline suggestions are off", async () => {
  vscode.state.settings = { serverPath: installFakeServer(path.join(tmp, "bin")) };
  await ext.activate(fakeContext());
  const mw = lc.clients[0].clientOptions.middleware;
  const doc = { uri: "file:///a.py", version: 1 };
  const next = () => [{ label: "return a + b" }];
  assert.equal(await mw.provideCompletionItem(doc, { line: 0, character: 0 }, {}, undefined, next), undefined);
  vscode.state.editorSettings["inlineSuggest.enabled"] = false;
  assert.deepEqual(await mw.provideCompletionItem(doc, { line: 0, character: 0 }, {}, undefined, next), [
    { label: "return a + b" },
  ]);
});

test("a server that fails to start is reported, with the log one click away", async () => {
  vscode.state.settings = { serverPath: installFakeServer(path.join(tmp, "bin")) };
  lc.behaviour.startError = new Error("Pending response rejected since connection got disposed");
  const e = await ext.activate(fakeContext());
  assert.match(
    vscode.state.errors[0],
    /^qwen-ls: the server did not start: ".*qwen-ls serve" ended before it answered \(Pending response rejected.*\)\. Its own error is in the log \("Qwen: Show Log"\)\.$/,
  );
  // no second popup and no restart loop from the client itself (seen in real VS Code)
  assert.equal(lc.clients[0].clientOptions.initializationFailedHandler(new Error("x")), false);
  const failing = lc.clients[0].clientOptions.errorHandler;
  assert.deepEqual(failing.closed(), { action: lc.CloseAction.DoNotRestart, handled: true });
  assert.deepEqual(failing.error(new Error("EPIPE"), undefined, 1), { action: lc.ErrorAction.Shutdown, handled: true });
  assert.match(e.statusItem.text, /debug-stop/);
  assert.equal(e.client, undefined);
  await vscode.commands.executeCommand("qwenLs.stats");
  assert.match(vscode.state.errors[1], /the server is not running/);
  // a restart tries again
  lc.behaviour.startError = undefined;
  await vscode.commands.executeCommand("qwenLs.restart");
  assert.equal(lc.clients.length, 2);
  assert.ok(lc.clients[1].running);
  // a server that ran and then crashed gets the client's default handling (restarts)
  assert.deepEqual(lc.clients[1].clientOptions.errorHandler.closed(), { action: lc.CloseAction.Restart });
});

test("renderExplanation copes with an empty answer", () => {
  const md = ext.renderExplanation({ snippets: [] }, "file:///a.py", { line: 0, character: 0 });
  assert.match(md, /No snippets from other files/);
  assert.match(ext.renderExplanation(null, "u", { line: 0, character: 0 }), /No snippets/);
});
