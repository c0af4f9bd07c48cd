/**
 * The status bar item's text, tooltip and colour for each `qwen/status` the server sends
 * (loading, ready, error, disabled), plus the states only the client knows (starting, missing, stopped).
 */
import * as path from "path";

export type ServerState = "loading" | "ready" | "error" | "disabled";

export interface StatusParams {
  state: ServerState;
  model: string;
  message?: string;
  lastLatencyMs?: number;
}

export type ClientState = "starting" | "missing" | "stopped";

export interface StatusView {
  text: string;
  tooltip: string;
  /** A theme colour id for the background, or undefined for the default. */
  background?: string;
}

/** "Qwen2.5-Coder-1.5B-Q8_0" for ".../qwen2.5-coder-1.5b-q8_0.gguf"; catalog names stay as they are. */
export function shortModelName(model: string): string {
  if (!model) {
    return "";
  }
  const base = path.basename(model.replace(/\\/g, "/"));
  return base.replace(/\.gguf$/i, "");
}

export function isStatusParams(value: unknown): value is StatusParams {
  if (typeof value !== "object" || value === null) {
    return false;
  }
  const v = value as { state?: unknown; model?: unknown };
  return (
    typeof v.state === "string" &&
    ["loading", "ready", "error", "disabled"].includes(v.state) &&
    (v.model === undefined || typeof v.model === "string")
  );
}

export function viewForStatus(status: StatusParams): StatusView {
  const model = shortModelName(status.model ?? "");
  const modelPart = model ? ` ${model}` : "";
  const message = status.message ? `\n${status.message}` : "";
  switch (status.state) {
    case "loading":
      return {
        text: `$(sync~spin) Qwen${modelPart}`,
        tooltip: `qwen-ls: loading ${status.model || "the model"}…${message}`,
      };
    case "ready": {
      const latency =
        typeof status.lastLatencyMs === "number" ? ` · ${Math.round(status.lastLatencyMs)} ms` : "";
      return {
        text: `$(sparkle) Qwen${modelPart}${latency}`,
        tooltip:
          `qwen-ls: ready (${status.model || "model"})` +
          (latency ? `\nLast completion: ${Math.round(status.lastLatencyMs as number)} ms` : "") +
          message +
          "\nClick for commands.",
      };
    }
    case "error":
      return {
        text: `$(error) Qwen${modelPart}`,
        tooltip: `qwen-ls: error${message || "\nSee the log (Qwen: Show Log)."}\nClick for commands.`,
        background: "statusBarItem.errorBackground",
      };
    case "disabled":
      return {
        text: `$(circle-slash) Qwen${modelPart}`,
        tooltip: `qwen-ls: completions disabled${message}\nClick for commands.`,
      };
  }
}

export function viewForClientState(state: ClientState, detail?: string): StatusView {
  switch (state) {
    case "starting":
      return { text: "$(sync~spin) Qwen", tooltip: "qwen-ls: starting the server…" };
    case "missing":
      return {
        text: "$(warning) Qwen",
        tooltip: `qwen-ls: server not found.${detail ? "\n" + detail : ""}`,
        background: "statusBarItem.warningBackground",
      };
    case "stopped":
      return {
        text: "$(debug-stop) Qwen",
        tooltip: `qwen-ls: server stopped.${detail ? "\n" + detail : ""}\nClick for commands.`,
        background: "statusBarItem.errorBackground",
      };
  }
}
