import assert = require("node:assert/strict");
import * as path from "node:path";
import { test } from "node:test";

import { activePythonExecutable, installHint, resolveServer } from "../src/serverPath";
import type { LookupEnv } from "../src/serverPath";

function lookup(executables: string[], env: Record<string, string> = {}, platform: NodeJS.Platform = "linux"): LookupEnv {
  return {
    platform,
    env: { PATH: "/usr/local/bin:/usr/bin", HOME: "/home/u", ...env },
    isExecutable: (f) => executables.includes(f),
    workspaceFolder: "/ws",
  };
}

test("the setting wins, with ~ and ${workspaceFolder} expanded", () => {
  const r = resolveServer("~/bin/qwen-ls", "/venv/bin/python", lookup(["/home/u/bin/qwen-ls", "/venv/bin/qwen-ls"]));
  assert.deepEqual(r, { kind: "found", command: path.join("/home/u", "bin/qwen-ls"), source: "setting" });
  const w = resolveServer("${workspaceFolder}/.venv/bin/qwen-ls", undefined, lookup(["/ws/.venv/bin/qwen-ls"]));
  assert.equal(w.kind === "found" && w.command, "/ws/.venv/bin/qwen-ls");
});

test("a wrong setting says so and does not fall back silently", () => {
  const r = resolveServer("/nope/qwen-ls", undefined, lookup(["/usr/bin/qwen-ls"]));
  assert.equal(r.kind, "missing");
  assert.match(r.kind === "missing" ? r.message : "", /"qwen\.serverPath" points to "\/nope\/qwen-ls", which is not an executable/);
});

test("then the active Python environment, then PATH", () => {
  const both = lookup(["/venv/bin/qwen-ls", "/usr/bin/qwen-ls"]);
  assert.deepEqual(resolveServer("", "/venv/bin/python", both), {
    kind: "found",
    command: "/venv/bin/qwen-ls",
    source: "python",
  });
  assert.deepEqual(resolveServer("", "/other/bin/python", both), {
    kind: "found",
    command: "/usr/bin/qwen-ls",
    source: "PATH",
  });
  assert.deepEqual(resolveServer("", undefined, both), { kind: "found", command: "/usr/bin/qwen-ls", source: "PATH" });
});

test("Windows looks in Scripts with PATHEXT", () => {
  const env = lookup(["C:\\venv\\Scripts\\qwen-ls.exe"], { PATH: "", PATHEXT: ".EXE;.CMD" }, "win32");
  const r = resolveServer("", "C:\\venv\\python.exe", env);
  assert.equal(r.kind, "found");
});

test("missing: the exact message names the install command for the active interpreter", () => {
  const r = resolveServer("", "/venv/bin/python", lookup([]));
  assert.equal(r.kind, "missing");
  assert.equal(
    r.kind === "missing" ? r.message : "",
    'qwen-ls: the language server executable "qwen-ls" was not found (looked in the active Python environment (/venv/bin), then PATH). ' +
      'Install it with: git clone https://github.com/qwen-ls/qwen-ls && "/venv/bin/python" -m pip install ./qwen-ls — or set "qwen.serverPath" to the full path of the qwen-ls executable, ' +
      'then run "Qwen: Restart Server".',
  );
  const noPython = resolveServer("", undefined, lookup([]));
  assert.match(
    noPython.kind === "missing" ? noPython.message : "",
    /Install it with: git clone https:\/\/github\.com\/qwen-ls\/qwen-ls && python3 -m pip install \.\/qwen-ls /,
  );
});

test("the install command installs the repository, never the unpublished PyPI name (seen in real VS Code)", () => {
  for (const python of [undefined, "/venv/bin/python"]) {
    const hint = installHint(python);
    assert.doesNotMatch(hint, /pip install qwen-ls\b/, "no package named qwen-ls is published");
    assert.match(hint, /^git clone https:\/\/github\.com\/qwen-ls\/qwen-ls && \S+ -m pip install \.\/qwen-ls$/);
  }
  // a wrong qwen.serverPath also says how to install the server
  const r = resolveServer("/nowhere/qwen-ls", undefined, lookup([]));
  assert.match(r.kind === "missing" ? r.message : "", /To install it: git clone .* && python3 -m pip install \.\/qwen-ls$/);
});

test("the Python extension API is asked for the active interpreter; errors mean unknown", async () => {
  const api = {
    environments: {
      getActiveEnvironmentPath: () => ({ id: "x", path: "/venv/bin/python" }),
      resolveEnvironment: async () => ({ executable: { uri: { fsPath: "/venv/bin/python3.11" } } }),
    },
  };
  assert.equal(await activePythonExecutable(api), "/venv/bin/python3.11");
  assert.equal(await activePythonExecutable(undefined), undefined);
  assert.equal(await activePythonExecutable({}), undefined);
  const broken = {
    environments: {
      getActiveEnvironmentPath: () => {
        throw new Error("boom");
      },
      resolveEnvironment: async () => undefined,
    },
  };
  assert.equal(await activePythonExecutable(broken), undefined);
});
