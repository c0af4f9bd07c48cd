/**
 * Inline completion middleware: switches completions off without a server round trip, and shows
 * streamed text (`qwen/partialCompletion`) where the VS Code API allows it.
 *
 * VS Code asks a provider once and shows what it returns; it has no way to grow a suggestion while it is
 * being generated. So, with streaming on, one server request per (document version, position) is kept in
 * flight, not tied to VS Code's cancellation token. Each partial text re-triggers inline suggestions
 * (`editor.action.inlineSuggest.trigger`); the provider call that follows answers at once with the text
 * so far, and the final answer is served the same way when it arrives. The server request is cancelled
 * only when a request for another version or position starts, i.e. when the user typed or moved on.
 */

export interface DocumentLike {
  uri: { toString(): string };
  version: number;
}

export interface PositionLike {
  line: number;
  character: number;
}

export interface CancellationTokenLike {
  isCancellationRequested: boolean;
  onCancellationRequested(listener: () => void): { dispose(): void };
}

export interface CancellationSourceLike<T extends CancellationTokenLike> {
  token: T;
  cancel(): void;
  dispose(): void;
}

export interface PartialCompletionParams {
  uri: string;
  version: number;
  position: PositionLike;
  text: string;
  done: boolean;
}

export function isPartialCompletionParams(value: unknown): value is PartialCompletionParams {
  if (typeof value !== "object" || value === null) {
    return false;
  }
  const v = value as Partial<PartialCompletionParams>;
  return (
    typeof v.uri === "string" &&
    typeof v.version === "number" &&
    typeof v.text === "string" &&
    typeof v.done === "boolean" &&
    typeof v.position === "object" &&
    v.position !== null &&
    typeof v.position.line === "number" &&
    typeof v.position.character === "number"
  );
}

export function requestKey(uri: string, version: number, position: PositionLike): string {
  return `${uri}@${version}:${position.line}:${position.character}`;
}

/** Resolves with `promise`, or with undefined as soon as `token` is cancelled. */
export function raceWithToken<R>(promise: Promise<R>, token: CancellationTokenLike): Promise<R | undefined> {
  if (token.isCancellationRequested) {
    return Promise.resolve(undefined);
  }
  return new Promise<R | undefined>((resolve, reject) => {
    const sub = token.onCancellationRequested(() => {
      sub.dispose();
      resolve(undefined);
    });
    promise.then(
      (value) => {
        sub.dispose();
        resolve(value);
      },
      (err: unknown) => {
        sub.dispose();
        reject(err);
      },
    );
  });
}

interface InFlight<R, T extends CancellationTokenLike> {
  key: string;
  source: CancellationSourceLike<T>;
  promise: Promise<R>;
  partial?: string;
  final?: { value: R };
  /** A partial was shown, so the final answer must be pushed with another trigger. */
  partialShown: boolean;
}

export interface InlineHooks<R, Tok extends CancellationTokenLike> {
  /** Completions on (the `qwen.enable` setting). */
  enabled(): boolean;
  /** Streaming on (the `qwen.streaming` setting, sent to the server at start). */
  streaming(): boolean;
  newCancellationSource(): CancellationSourceLike<Tok>;
  /** The result to show for a partial text at `position`. */
  partialResult(text: string, position: PositionLike): R;
  /** Asks the editor to call the provider again (`editor.action.inlineSuggest.trigger`). */
  retrigger(uri: string): void;
}

export class InlineCompletionMiddleware<R, Tok extends CancellationTokenLike> {
  private inflight: InFlight<R | null | undefined, Tok> | undefined;

  constructor(private readonly hooks: InlineHooks<R, Tok>) {}

  async provide<D extends DocumentLike, P extends PositionLike, C>(
    document: D,
    position: P,
    context: C,
    token: Tok,
    next: (document: D, position: P, context: C, token: Tok) => PromiseLike<R | null | undefined> | R | null | undefined,
  ): Promise<R | null | undefined> {
    if (!this.hooks.enabled()) {
      this.cancelInFlight();
      return null;
    }
    if (!this.hooks.streaming()) {
      return await next(document, position, context, token);
    }
    const key = requestKey(document.uri.toString(), document.version, position);
    const current = this.inflight;
    if (current && current.key === key) {
      if (current.final) {
        return current.final.value;
      }
      if (current.partial !== undefined) {
        current.partialShown = true;
        return this.hooks.partialResult(current.partial, position);
      }
      return raceWithToken(current.promise, token);
    }
    this.cancelInFlight();
    const source = this.hooks.newCancellationSource();
    const entry: InFlight<R | null | undefined, Tok> = {
      key,
      source,
      partialShown: false,
      promise: Promise.resolve(undefined),
    };
    entry.promise = Promise.resolve(next(document, position, context, source.token)).then((value) => {
      entry.final = { value };
      if (entry.partialShown && this.inflight === entry) {
        this.hooks.retrigger(document.uri.toString());
      }
      return value;
    });
    // A failed request must not leave an unhandled rejection behind when no provider call awaits it.
    entry.promise.catch(() => undefined);
    this.inflight = entry;
    return raceWithToken(entry.promise, token);
  }

  /** Handles `qwen/partialCompletion`; returns true when the text belongs to the request in flight. */
  onPartial(params: PartialCompletionParams): boolean {
    const current = this.inflight;
    if (!current || current.final) {
      return false;
    }
    if (current.key !== requestKey(params.uri, params.version, params.position)) {
      return false;
    }
    if (params.done) {
      return true;
    }
    if (params.text === current.partial || params.text.length === 0) {
      return true;
    }
    current.partial = params.text;
    this.hooks.retrigger(params.uri);
    return true;
  }

  /** The text shown so far for the request in flight (for tests and the status bar). */
  get partialText(): string | undefined {
    return this.inflight?.partial;
  }

  cancelInFlight(): void {
    const current = this.inflight;
    this.inflight = undefined;
    if (current && !current.final) {
      current.source.cancel();
    }
    current?.source.dispose();
  }
}
