/**
 * Server settings: the `qwen.*` settings contributed in package.json, turned into the camelCase object
 * that the server reads from `initializationOptions` and from `workspace/configuration` (section "qwen").
 *
 * Only values the user has set are sent, so the server's own defaults apply to the rest and the two
 * sides cannot disagree about a default.
 */

/** Settings read by the extension itself and never sent to the server. */
export const CLIENT_ONLY_KEYS: readonly string[] = ["serverPath", "serverArgs", "trace.server"];

/** The part of `vscode.WorkspaceConfiguration` used here (kept small so tests can fake it). */
export interface ConfigurationLike {
  get<T>(key: string): T | undefined;
  inspect<T>(key: string):
    | {
        globalValue?: T;
        workspaceValue?: T;
        workspaceFolderValue?: T;
      }
    | undefined;
}

export type JsonObject = { [key: string]: unknown };

/** Keys (without the `qwen.` prefix) of the server settings contributed in a package.json. */
export function serverSettingKeys(packageJson: unknown): string[] {
  const props = (packageJson as { contributes?: { configuration?: { properties?: JsonObject } } })
    ?.contributes?.configuration?.properties;
  if (!props) {
    return [];
  }
  return Object.keys(props)
    .filter((k) => k.startsWith("qwen."))
    .map((k) => k.slice("qwen.".length))
    .filter((k) => !CLIENT_ONLY_KEYS.includes(k));
}

/** The value the user set for `key`, the most specific scope first; undefined when only the default applies. */
export function userValue<T>(config: ConfigurationLike, key: string): T | undefined {
  const info = config.inspect<T>(key);
  if (!info) {
    return undefined;
  }
  if (info.workspaceFolderValue !== undefined) {
    return info.workspaceFolderValue;
  }
  if (info.workspaceValue !== undefined) {
    return info.workspaceValue;
  }
  return info.globalValue;
}

/** Sets `obj.a.b.c = value` for the dotted key "a.b.c", creating the objects on the way. */
export function setDotted(obj: JsonObject, dotted: string, value: unknown): void {
  const parts = dotted.split(".");
  let node = obj;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== "object" || next === null || Array.isArray(next)) {
      node[part] = {};
    }
    node = node[part] as JsonObject;
  }
  node[parts[parts.length - 1]] = value;
}

/** The nested settings object sent to the server. */
export function serverSettings(config: ConfigurationLike, keys: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const key of keys) {
    const value = userValue(config, key);
    if (value !== undefined) {
      setDotted(out, key, value);
    }
  }
  return out;
}

/** The sub-object for a `workspace/configuration` item section such as "qwen" or "qwen.completion". */
export function sectionOf(settings: JsonObject, section: string | undefined): unknown {
  if (section === undefined || section === "qwen") {
    return settings;
  }
  if (!section.startsWith("qwen.")) {
    return undefined;
  }
  let node: unknown = settings;
  for (const part of section.slice("qwen.".length).split(".")) {
    if (typeof node !== "object" || node === null) {
      return null;
    }
    node = (node as JsonObject)[part];
  }
  return node === undefined ? null : node;
}
