/**
 * A fake of the parts of the `vscode` module the extension uses, recording what the extension does.
 * VS Code itself cannot run here, so the tests load the extension against this (see setup.ts).
 */

type Listener<T> = (e: T) => unknown;

export class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  event = (listener: Listener<T>): { dispose(): void } => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };
  fire(e: T): unknown[] {
    return this.listeners.map((l) => l(e));
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class CancellationTokenSource {
  private emitter = new EventEmitter<void>();
  token = {
    isCancellationRequested: false,
    onCancellationRequested: this.emitter.event,
  };
  cancel(): void {
    if (!this.token.isCancellationRequested) {
      this.token.isCancellationRequested = true;
      this.emitter.fire();
    }
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

export class Position {
  constructor(
    public line: number,
    public character: number,
  ) {}
}

export class Range {
  start: Position;
  end: Position;
  constructor(sl: number, sc: number, el: number, ec: number) {
    this.start = new Position(sl, sc);
    this.end = new Position(el, ec);
  }
}

export class InlineCompletionItem {
  constructor(
    public insertText: string,
    public range?: Range,
  ) {}
}

export class ThemeColor {
  constructor(public id: string) {}
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}

export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}

export enum ViewColumn {
  Active = -1,
  Beside = -2,
}

export class Uri {
  constructor(
    public fsPath: string,
    private readonly str: string = "file://" + fsPath,
  ) {}
  toString(): string {
    return this.str;
  }
  static file(p: string): Uri {
    return new Uri(p);
  }
}

/** Everything the fake records, reset between tests with `reset()`. */
export const state = {
  settings: {} as Record<string, unknown>,
  workspaceSettings: {} as Record<string, unknown>,
  editorSettings: {} as Record<string, unknown>,
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  executed: [] as { command: string; args: unknown[] }[],
  errors: [] as string[],
  infos: [] as string[],
  logs: [] as string[],
  statusItems: [] as FakeStatusBarItem[],
  openedDocuments: [] as { language?: string; content?: string }[],
  extensions: new Map<string, unknown>(),
  configListeners: new EventEmitter<{ affectsConfiguration(section: string): boolean }>(),
  activeTextEditor: undefined as unknown,
  workspaceFolders: undefined as { uri: Uri }[] | undefined,
  errorChoice: undefined as string | undefined,
};

export function reset(): void {
  state.settings = {};
  state.workspaceSettings = {};
  state.editorSettings = {};
  state.commands = new Map();
  state.executed = [];
  state.errors = [];
  state.infos = [];
  state.logs = [];
  state.statusItems = [];
  state.openedDocuments = [];
  state.extensions = new Map();
  state.configListeners = new EventEmitter();
  state.activeTextEditor = undefined;
  state.workspaceFolders = undefined;
  state.errorChoice = undefined;
}

/** Changes a `qwen.*` user setting and fires onDidChangeConfiguration like VS Code does. */
export async function changeSetting(key: string, value: unknown): Promise<void> {
  if (value === undefined) {
    delete state.settings[key];
  } else {
    state.settings[key] = value;
  }
  const full = "qwen." + key;
  await Promise.all(
    state.configListeners.fire({
      affectsConfiguration: (section: string) =>
        section === full || full.startsWith(section + ".") || section.startsWith(full + "."),
    }),
  );
}

class FakeStatusBarItem {
  text = "";
  tooltip: unknown = "";
  command: unknown;
  name = "";
  backgroundColor: ThemeColor | undefined;
  visible = false;
  constructor(public id: string) {}
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {
    this.visible = false;
  }
}

function logChannel(name: string): Record<string, unknown> {
  const record =
    (level: string) =>
    (msg: string): void => {
      state.logs.push(`[${level}] ${msg}`);
    };
  return {
    name,
    info: record("info"),
    warn: record("warn"),
    error: record("error"),
    debug: record("debug"),
    trace: record("trace"),
    appendLine: record("line"),
    append: record("text"),
    show: () => state.executed.push({ command: "<show log>", args: [] }),
    dispose: () => undefined,
  };
}

function configuration(section: string): Record<string, unknown> {
  if (section === "editor") {
    return { get: (key: string, dflt?: unknown) => (key in state.editorSettings ? state.editorSettings[key] : dflt) };
  }
  const full = (key: string): string => (section ? `${section}.${key}` : key);
  const strip = (key: string): string => full(key).replace(/^qwen\./, "");
  return {
    get: (key: string, dflt?: unknown) => {
      const k = strip(key);
      if (k in state.workspaceSettings) return state.workspaceSettings[k];
      if (k in state.settings) return state.settings[k];
      return dflt;
    },
    inspect: (key: string) => ({
      key: full(key),
      globalValue: state.settings[strip(key)],
      workspaceValue: state.workspaceSettings[strip(key)],
    }),
    update: async (key: string, value: unknown, target: ConfigurationTarget) => {
      const store = target === ConfigurationTarget.Global ? state.settings : state.workspaceSettings;
      store[strip(key)] = value;
      await changeSetting(strip(key), state.settings[strip(key)]);
    },
  };
}

export const window = {
  createOutputChannel: (name: string) => logChannel(name),
  createStatusBarItem: (id: string) => {
    const item = new FakeStatusBarItem(id);
    state.statusItems.push(item);
    return item;
  },
  showErrorMessage: (message: string) => {
    state.errors.push(message);
    return Promise.resolve(state.errorChoice);
  },
  showInformationMessage: (message: string) => {
    state.infos.push(message);
    return Promise.resolve(undefined);
  },
  showQuickPick: () => Promise.resolve(undefined),
  showTextDocument: () => Promise.resolve(undefined),
  get activeTextEditor(): unknown {
    return state.activeTextEditor;
  },
};

export const workspace = {
  getConfiguration: (section = "", _scope?: unknown) => configuration(section),
  onDidChangeConfiguration: (listener: Listener<{ affectsConfiguration(section: string): boolean }>) =>
    state.configListeners.event(listener),
  get workspaceFolders(): unknown {
    return state.workspaceFolders;
  },
  openTextDocument: (options: { language?: string; content?: string }) => {
    state.openedDocuments.push(options);
    return Promise.resolve({ uri: new Uri("/untitled") });
  },
};

export const commands = {
  registerCommand: (id: string, fn: (...args: unknown[]) => unknown) => {
    if (state.commands.has(id)) {
      throw new Error(`command '${id}' already exists`);
    }
    state.commands.set(id, fn);
    return { dispose: () => state.commands.delete(id) };
  },
  executeCommand: (command: string, ...args: unknown[]) => {
    state.executed.push({ command, args });
    const fn = state.commands.get(command);
    return Promise.resolve(fn ? fn(...args) : undefined);
  },
};

export const extensions = {
  getExtension: (id: string) => state.extensions.get(id),
};
