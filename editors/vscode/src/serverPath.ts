/**
 * Finding the `qwen-ls` executable: the `qwen.serverPath` setting, then the active Python environment
 * (through the ms-python extension's API when it is installed), then PATH. When nothing is found the
 * result carries the exact message to show, with the command that fixes it.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const EXECUTABLE = "qwen-ls";

export interface Found {
  kind: "found";
  command: string;
  /** Where it was found: "setting", "python" or "PATH". */
  source: "setting" | "python" | "PATH";
}

export interface Missing {
  kind: "missing";
  message: string;
  /** Places looked in, for the log. */
  searched: string[];
}

export type Resolution = Found | Missing;

export interface LookupEnv {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  isExecutable(file: string): boolean;
  workspaceFolder?: string;
}

export function defaultLookupEnv(workspaceFolder?: string): LookupEnv {
  return {
    platform: process.platform,
    env: process.env,
    isExecutable: (file: string): boolean => {
      try {
        const stat = fs.statSync(file);
        if (!stat.isFile()) {
          return false;
        }
        if (process.platform === "win32") {
          return true;
        }
        fs.accessSync(file, fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    },
    workspaceFolder,
  };
}

/** `~` and `${workspaceFolder}` in the setting, as users write them in other extensions. */
export function expandSetting(value: string, lookup: LookupEnv): string {
  let out = value.trim();
  if (out === "~" || out.startsWith("~/") || out.startsWith("~\\")) {
    out = path.join(lookup.env.HOME ?? lookup.env.USERPROFILE ?? os.homedir(), out.slice(1));
  }
  if (lookup.workspaceFolder !== undefined) {
    out = out.split("${workspaceFolder}").join(lookup.workspaceFolder);
  }
  return out;
}

function executableNames(lookup: LookupEnv): string[] {
  if (lookup.platform !== "win32") {
    return [EXECUTABLE];
  }
  const exts = (lookup.env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";").filter((e) => e.length > 0);
  return exts.map((e) => EXECUTABLE + e.toLowerCase());
}

/** Directories next to a Python interpreter where pip puts console scripts. */
function pathFor(platform: NodeJS.Platform): path.PlatformPath {
  return platform === "win32" ? path.win32 : path.posix;
}

export function scriptDirsFor(pythonExecutable: string, platform: NodeJS.Platform): string[] {
  const p = pathFor(platform);
  const dir = p.dirname(pythonExecutable);
  if (platform === "win32") {
    return [dir, p.join(dir, "Scripts")];
  }
  return [dir];
}

function searchDirs(dirs: string[], lookup: LookupEnv): string | undefined {
  for (const dir of dirs) {
    for (const name of executableNames(lookup)) {
      const candidate = pathFor(lookup.platform).join(dir, name);
      if (lookup.isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

export function pathDirs(lookup: LookupEnv): string[] {
  const raw = lookup.env.PATH ?? lookup.env.Path ?? "";
  const sep = lookup.platform === "win32" ? ";" : ":";
  return raw.split(sep).filter((d) => d.length > 0);
}

/** Where qwen-ls is published: it is installed from a clone (no package of that name is on PyPI). */
export const REPOSITORY = "https://github.com/qwen-ls/qwen-ls";

/**
 * The shell command that installs the server into `pythonExecutable`'s environment (python3 if unknown):
 * the README's install from a clone of the repository.
 */
export function installHint(pythonExecutable: string | undefined): string {
  const python = pythonExecutable ? `"${pythonExecutable}"` : "python3";
  return `git clone ${REPOSITORY} && ${python} -m pip install ./qwen-ls`;
}

/**
 * Resolves the server executable.
 * @param setting the `qwen.serverPath` value ("" when unset)
 * @param pythonExecutable the active Python environment's interpreter, if known
 */
export function resolveServer(
  setting: string,
  pythonExecutable: string | undefined,
  lookup: LookupEnv,
): Resolution {
  const searched: string[] = [];
  if (setting.trim() !== "") {
    const file = expandSetting(setting, lookup);
    if (lookup.isExecutable(file)) {
      return { kind: "found", command: file, source: "setting" };
    }
    searched.push(`qwen.serverPath (${file})`);
    return {
      kind: "missing",
      searched,
      message:
        `qwen-ls: the setting "qwen.serverPath" points to "${file}", which is not an executable file. ` +
        `Fix the path, or clear the setting to use the qwen-ls found in the active Python environment or on PATH. ` +
        `To install it: ${installHint(pythonExecutable)}`,
    };
  }
  if (pythonExecutable) {
    const dirs = scriptDirsFor(pythonExecutable, lookup.platform);
    const found = searchDirs(dirs, lookup);
    if (found) {
      return { kind: "found", command: found, source: "python" };
    }
    searched.push(`the active Python environment (${dirs.join(", ")})`);
  }
  const found = searchDirs(pathDirs(lookup), lookup);
  if (found) {
    return { kind: "found", command: found, source: "PATH" };
  }
  searched.push("PATH");
  return {
    kind: "missing",
    searched,
    message:
      `qwen-ls: the language server executable "${EXECUTABLE}" was not found (looked in ${searched.join(", then ")}). ` +
      `Install it with: ${installHint(pythonExecutable)} — or set "qwen.serverPath" to the full path of the qwen-ls executable, ` +
      `then run "Qwen: Restart Server".`,
  };
}

/** The part of the ms-python extension's exported API used here (`environments`, 2023 and later). */
export interface PythonEnvironmentsApi {
  environments?: {
    getActiveEnvironmentPath(resource?: unknown): { id?: string; path: string } | undefined;
    resolveEnvironment(
      env: { id?: string; path: string } | string,
    ): Promise<{ executable?: { uri?: { fsPath: string } } } | undefined>;
  };
}

/** The active environment's interpreter path, or undefined (no extension, old API, or any error). */
export async function activePythonExecutable(
  api: PythonEnvironmentsApi | undefined,
  resource?: unknown,
): Promise<string | undefined> {
  const envs = api?.environments;
  if (!envs) {
    return undefined;
  }
  try {
    const active = envs.getActiveEnvironmentPath(resource);
    if (!active) {
      return undefined;
    }
    const resolved = await envs.resolveEnvironment(active);
    return resolved?.executable?.uri?.fsPath ?? active.path;
  } catch {
    return undefined;
  }
}
