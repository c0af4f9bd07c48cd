/**
 * The VS Code (and Cursor) client for qwen-ls: starts `qwen-ls serve` over stdio through
 * vscode-languageclient (inline completion is a default feature from v11 on), keeps the server's
 * settings in step with the `qwen.*` settings, and owns the status bar item and the `qwenLs.*` commands.
 */
import * as vscode from "vscode";
import { CloseAction, ErrorAction, LanguageClient } from "vscode-languageclient/node";
import type { ErrorHandler, LanguageClientOptions, ServerOptions } from "vscode-languageclient/node";

import { InlineCompletionMiddleware, isPartialCompletionParams } from "./inline";
import {
  activePythonExecutable,
  defaultLookupEnv,
  type PythonEnvironmentsApi,
  type Resolution,
  resolveServer,
} from "./serverPath";
import { type JsonObject, sectionOf, serverSettingKeys, serverSettings } from "./settings";
import { isStatusParams, type StatusParams, viewForClientState, viewForStatus, type StatusView } from "./status";

export const CLIENT_ID = "qwen";
export const SERVER_COMMANDS = {
  explainContext: "qwen.explainContext",
  stats: "qwen.stats",
} as const;

type InlineResult = vscode.InlineCompletionItem[] | vscode.InlineCompletionList;

/** Settings that need a new server process rather than a configuration change. */
const RESTART_KEYS = ["serverPath", "serverArgs"];

export class QwenExtension implements vscode.Disposable {
  client: LanguageClient | undefined;
  readonly output: vscode.LogOutputChannel;
  readonly statusItem: vscode.StatusBarItem;
  readonly inline: InlineCompletionMiddleware<InlineResult, vscode.CancellationToken>;
  lastStatus: StatusParams | undefined;
  lastResolution: Resolution | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly settingKeys: string[];
  /** Streaming as sent to the server at start (the server reads it from initializationOptions only). */
  private streamingAtStart = false;

  constructor(context: vscode.ExtensionContext) {
    this.settingKeys = serverSettingKeys(context.extension.packageJSON);
    this.output = vscode.window.createOutputChannel("Qwen", { log: true });
    this.statusItem = vscode.window.createStatusBarItem("qwen.status", vscode.StatusBarAlignment.Right, 100);
    this.statusItem.name = "Qwen";
    this.statusItem.command = "qwenLs.menu";
    this.inline = new InlineCompletionMiddleware<InlineResult, vscode.CancellationToken>({
      enabled: () => this.config().get<boolean>("enable") !== false,
      streaming: () => this.streamingAtStart,
      newCancellationSource: () => new vscode.CancellationTokenSource(),
      partialResult: (text, position) => [
        new vscode.InlineCompletionItem(
          text,
          new vscode.Range(position.line, position.character, position.line, position.character),
        ),
      ],
      retrigger: (uri) => {
        const editor = vscode.window.activeTextEditor;
        if (editor && editor.document.uri.toString() === uri) {
          void vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
        }
      },
    });
    this.disposables.push(this.output, this.statusItem);
  }

  config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(CLIENT_ID);
  }

  /** The settings object sent as initializationOptions and returned for `workspace/configuration`. */
  settings(): JsonObject {
    return serverSettings(this.config(), this.settingKeys);
  }

  inlineSuggestionsOn(document: vscode.TextDocument): boolean {
    return vscode.workspace.getConfiguration("editor", document).get<boolean>("inlineSuggest.enabled") !== false;
  }

  setView(view: StatusView): void {
    this.statusItem.text = view.text;
    this.statusItem.tooltip = view.tooltip;
    this.statusItem.backgroundColor = view.background ? new vscode.ThemeColor(view.background) : undefined;
    this.statusItem.show();
  }

  onStatus(params: unknown): void {
    if (!isStatusParams(params)) {
      this.output.warn(`ignored a malformed qwen/status notification: ${JSON.stringify(params)}`);
      return;
    }
    this.lastStatus = params;
    this.setView(viewForStatus(params));
  }

  async pythonExecutable(): Promise<string | undefined> {
    const ext = vscode.extensions.getExtension<PythonEnvironmentsApi>("ms-python.python");
    if (!ext) {
      return undefined;
    }
    try {
      const api = ext.isActive ? ext.exports : await ext.activate();
      const resource = vscode.window.activeTextEditor?.document.uri ?? vscode.workspace.workspaceFolders?.[0]?.uri;
      return await activePythonExecutable(api, resource);
    } catch (err) {
      this.output.warn(`could not ask the Python extension for the active environment: ${String(err)}`);
      return undefined;
    }
  }

  async resolve(): Promise<Resolution> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const setting = this.config().get<string>("serverPath") ?? "";
    const python = setting.trim() === "" ? await this.pythonExecutable() : undefined;
    return resolveServer(setting, python, defaultLookupEnv(folder));
  }

  clientOptions(): LanguageClientOptions {
    const settings = this.settings();
    this.streamingAtStart = settings.streaming === true;
    return {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      outputChannel: this.output,
      initializationOptions: settings,
      // A server that fails to initialize (it exited: a broken install, a bad argument) is reported once,
      // by start(), and not started again and again: real VS Code showed a second "Server initialization
      // failed" popup and a restart loop, none of them naming the cause.
      initializationFailedHandler: () => false,
      middleware: {
        provideInlineCompletionItems: (document, position, context, token, next) =>
          this.inline.provide(document, position, context, token, next),
        // The server's completion-menu fallback is for clients without ghost text; here it would show the
        // same suggestion twice. It stays on for users who turned inline suggestions off.
        provideCompletionItem: (document, position, context, token, next) =>
          this.inlineSuggestionsOn(document) ? undefined : next(document, position, context, token),
        workspace: {
          configuration: (params, token, next) => {
            const ours = params.items.map((item) =>
              item.section === CLIENT_ID || item.section?.startsWith(CLIENT_ID + ".")
                ? sectionOf(this.settings(), item.section)
                : undefined,
            );
            if (ours.every((v) => v !== undefined)) {
              return ours;
            }
            return Promise.resolve(next(params, token)).then((theirs) => {
              if (!Array.isArray(theirs)) {
                return theirs;
              }
              return ours.map((v, i) => (v !== undefined ? v : theirs[i]));
            });
          },
        },
      },
    };
  }

  async start(): Promise<void> {
    this.setView(viewForClientState("starting"));
    const resolution = await this.resolve();
    this.lastResolution = resolution;
    if (resolution.kind === "missing") {
      this.output.error(resolution.message);
      this.setView(viewForClientState("missing", resolution.message));
      void vscode.window.showErrorMessage(resolution.message, "Open Settings", "Show Log").then((choice) => {
        if (choice === "Open Settings") {
          void vscode.commands.executeCommand("workbench.action.openSettings", "qwen.serverPath");
        } else if (choice === "Show Log") {
          this.output.show();
        }
      });
      return;
    }
    const args = ["serve", ...(this.config().get<string[]>("serverArgs") ?? [])];
    this.output.info(`starting ${resolution.command} ${args.join(" ")} (found via ${resolution.source})`);
    const serverOptions: ServerOptions = { command: resolution.command, args };
    let started = false;
    let fallback: ErrorHandler | undefined;
    const options = this.clientOptions();
    options.errorHandler = startAwareErrorHandler(
      () => started,
      () => (fallback ??= client.createDefaultErrorHandler()),
    );
    const client = new LanguageClient(CLIENT_ID, "Qwen", serverOptions, options);
    this.client = client;
    client.onNotification("qwen/status", (params: unknown) => this.onStatus(params));
    client.onNotification("qwen/partialCompletion", (params: unknown) => {
      if (isPartialCompletionParams(params)) {
        this.inline.onPartial(params);
      }
    });
    try {
      await client.start();
      started = true;
      if (!this.lastStatus) {
        this.setView(viewForStatus({ state: "loading", model: "" }));
      }
    } catch (err) {
      if (this.client === client) {
        this.client = undefined;
      }
      const message = startFailure(resolution.command, err);
      this.output.error(message);
      this.setView(viewForClientState("stopped", message));
      void vscode.window.showErrorMessage(message, "Show Log").then((choice) => {
        if (choice === "Show Log") {
          this.output.show();
        }
      });
    }
  }

  async stop(): Promise<void> {
    this.inline.cancelInFlight();
    const client = this.client;
    this.client = undefined;
    this.lastStatus = undefined;
    if (client) {
      try {
        await client.stop();
      } catch (err) {
        this.output.warn(`stopping the server: ${String(err)}`);
      }
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async onConfigurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
    if (!event.affectsConfiguration(CLIENT_ID)) {
      return;
    }
    const needsRestart =
      RESTART_KEYS.some((k) => event.affectsConfiguration(`${CLIENT_ID}.${k}`)) ||
      (event.affectsConfiguration(`${CLIENT_ID}.streaming`) &&
        (this.settings().streaming === true) !== this.streamingAtStart);
    if (needsRestart || !this.client) {
      await this.restart();
      return;
    }
    if (event.affectsConfiguration(`${CLIENT_ID}.enable`) && this.config().get<boolean>("enable") === false) {
      this.inline.cancelInFlight();
    }
    await this.client.sendNotification("workspace/didChangeConfiguration", {
      settings: { [CLIENT_ID]: this.settings() },
    });
  }

  async setEnabled(enabled: boolean): Promise<void> {
    const folderScoped = this.config().inspect<boolean>("enable")?.workspaceValue !== undefined;
    await this.config().update(
      "enable",
      enabled,
      folderScoped ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global,
    );
  }

  requireClient(): LanguageClient | undefined {
    if (this.client) {
      return this.client;
    }
    const message =
      this.lastResolution?.kind === "missing"
        ? this.lastResolution.message
        : "qwen-ls: the server is not running. Run \"Qwen: Restart Server\" or see \"Qwen: Show Log\".";
    void vscode.window.showErrorMessage(message);
    return undefined;
  }

  async explainContext(): Promise<void> {
    const client = this.requireClient();
    const editor = vscode.window.activeTextEditor;
    if (!client) {
      return;
    }
    if (!editor) {
      void vscode.window.showInformationMessage("qwen-ls: open a file and place the cursor first.");
      return;
    }
    const position = editor.selection.active;
    const result = await client.sendRequest("workspace/executeCommand", {
      command: SERVER_COMMANDS.explainContext,
      arguments: [editor.document.uri.toString(), { line: position.line, character: position.character }],
    });
    const doc = await vscode.workspace.openTextDocument({
      language: "markdown",
      content: renderExplanation(result, editor.document.uri.toString(), position),
    });
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
  }

  async stats(): Promise<void> {
    const client = this.requireClient();
    if (!client) {
      return;
    }
    const result = await client.sendRequest("workspace/executeCommand", { command: SERVER_COMMANDS.stats, arguments: [] });
    this.output.info(`stats: ${JSON.stringify(result)}`);
    const doc = await vscode.workspace.openTextDocument({
      language: "json",
      content: JSON.stringify(result, null, 2) + "\n",
    });
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
  }

  async menu(): Promise<void> {
    const enabled = this.config().get<boolean>("enable") !== false;
    const items: (vscode.QuickPickItem & { command: string })[] = [
      enabled
        ? { label: "$(circle-slash) Disable completions", command: "qwenLs.disable" }
        : { label: "$(check) Enable completions", command: "qwenLs.enable" },
      { label: "$(search) Explain completion context", command: "qwenLs.explainContext" },
      { label: "$(graph) Show statistics", command: "qwenLs.stats" },
      { label: "$(output) Show log", command: "qwenLs.showLog" },
      { label: "$(debug-restart) Restart server", command: "qwenLs.restart" },
      { label: "$(gear) Settings", command: "workbench.action.openSettings" },
    ];
    const pick = await vscode.window.showQuickPick(items, { placeHolder: "Qwen" });
    if (pick) {
      await vscode.commands.executeCommand(pick.command, ...(pick.command === "workbench.action.openSettings" ? ["qwen."] : []));
    }
  }

  registerCommands(): void {
    const reg = (id: string, fn: () => unknown): void => {
      this.disposables.push(vscode.commands.registerCommand(id, fn));
    };
    reg("qwenLs.enable", () => this.setEnabled(true));
    reg("qwenLs.disable", () => this.setEnabled(false));
    reg("qwenLs.toggle", () => this.setEnabled(this.config().get<boolean>("enable") === false));
    reg("qwenLs.restart", () => this.restart());
    reg("qwenLs.showLog", () => this.output.show());
    reg("qwenLs.explainContext", () => this.explainContext());
    reg("qwenLs.stats", () => this.stats());
    reg("qwenLs.menu", () => this.menu());
  }

  async activate(): Promise<void> {
    this.registerCommands();
    this.disposables.push(vscode.workspace.onDidChangeConfiguration((e) => this.onConfigurationChanged(e)));
    await this.start();
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) {
      d.dispose();
    }
  }
}

/**
 * Before the server first answered, a broken connection is final: start() reports it once. (Real VS Code
 * showed vscode-languageclient restarting a server that exits at start, again and again, each time with
 * its own popups.) Once it ran, a crash gets the client's default: restarts, up to 4 in 3 minutes.
 */
export function startAwareErrorHandler(started: () => boolean, fallback: () => ErrorHandler): ErrorHandler {
  return {
    error: (error, message, count) =>
      started() ? fallback().error(error, message, count) : { action: ErrorAction.Shutdown, handled: true },
    closed: () => (started() ? fallback().closed() : { action: CloseAction.DoNotRestart, handled: true }),
  };
}

/** The message for a server that did not start: what was run, and where its own error is. */
export function startFailure(command: string, err: unknown): string {
  const detail = err instanceof Error ? err.message : String(err);
  return (
    `qwen-ls: the server did not start: "${command} serve" ended before it answered (${detail}). ` +
    `Its own error is in the log ("Qwen: Show Log").`
  );
}

/** Markdown for the `qwen.explainContext` answer: one section per snippet, whatever fields it has. */
export function renderExplanation(result: unknown, uri: string, position: { line: number; character: number }): string {
  const lines = [`# Completion context`, ``, `At ${uri}:${position.line + 1}:${position.character + 1}`, ``];
  const snippets = (result as { snippets?: unknown } | null)?.snippets;
  if (!Array.isArray(snippets) || snippets.length === 0) {
    lines.push("No snippets from other files would be used here.", "");
  } else {
    snippets.forEach((raw, i) => {
      const s = (raw ?? {}) as Record<string, unknown>;
      const where = [s.path ?? s.uri ?? s.file, s.source ?? s.kind].filter((v) => v !== undefined).join(" · ");
      const score = typeof s.score === "number" ? ` (score ${s.score.toFixed(3)})` : "";
      const tokens = typeof s.tokens === "number" ? `, ${s.tokens} tokens` : "";
      lines.push(`## ${i + 1}. ${where || "snippet"}${score}${tokens}`, "");
      const text = s.text ?? s.content;
      if (typeof text === "string") {
        lines.push("```", text.replace(/```/g, "ˋˋˋ"), "```", "");
      } else {
        lines.push("```json", JSON.stringify(s, null, 2), "```", "");
      }
    });
  }
  const rest = { ...(result as Record<string, unknown> | null) };
  delete rest.snippets;
  if (Object.keys(rest).length > 0) {
    lines.push("## Details", "", "```json", JSON.stringify(rest, null, 2), "```", "");
  }
  return lines.join("\n");
}

let extension: QwenExtension | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<QwenExtension> {
  extension = new QwenExtension(context);
  context.subscriptions.push(extension);
  await extension.activate();
  return extension;
}

export async function deactivate(): Promise<void> {
  const ext = extension;
  extension = undefined;
  if (ext) {
    await ext.stop();
  }
}
