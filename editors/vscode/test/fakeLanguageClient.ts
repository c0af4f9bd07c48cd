/** A fake `vscode-languageclient/node`: records the client the extension builds and what it sends. */

export interface Sent {
  method: string;
  params: unknown;
}

export const clients: LanguageClient[] = [];

export enum ErrorAction {
  Continue = 1,
  Shutdown = 2,
}

export enum CloseAction {
  DoNotRestart = 1,
  Restart = 2,
}

export const behaviour = {
  startError: undefined as Error | undefined,
  requestResults: new Map<string, unknown>(),
};

export function reset(): void {
  clients.length = 0;
  behaviour.startError = undefined;
  behaviour.requestResults = new Map();
}

export class LanguageClient {
  notificationHandlers = new Map<string, (params: unknown) => void>();
  notifications: Sent[] = [];
  requests: Sent[] = [];
  running = false;
  stopped = false;

  constructor(
    public id: string,
    public name: string,
    public serverOptions: { command: string; args: string[] },
    public clientOptions: Record<string, any>,
  ) {
    clients.push(this);
  }

  onNotification(method: string, handler: (params: unknown) => void): { dispose(): void } {
    this.notificationHandlers.set(method, handler);
    return { dispose: () => this.notificationHandlers.delete(method) };
  }

  /** Delivers a server notification as the real client would. */
  notify(method: string, params: unknown): void {
    const handler = this.notificationHandlers.get(method);
    if (!handler) {
      throw new Error(`no handler for ${method}`);
    }
    handler(params);
  }

  /** The real client's default: restart (the count is not modelled). */
  createDefaultErrorHandler(): {
    error(): { action: ErrorAction };
    closed(): { action: CloseAction };
  } {
    return { error: () => ({ action: ErrorAction.Continue }), closed: () => ({ action: CloseAction.Restart }) };
  }

  async start(): Promise<void> {
    if (behaviour.startError) {
      throw behaviour.startError;
    }
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopped = true;
  }

  isRunning(): boolean {
    return this.running;
  }

  async sendNotification(method: string, params: unknown): Promise<void> {
    this.notifications.push({ method, params });
  }

  async sendRequest(method: string, params: unknown): Promise<unknown> {
    this.requests.push({ method, params });
    const command = (params as { command?: string })?.command;
    return behaviour.requestResults.get(command ?? method) ?? null;
  }
}
