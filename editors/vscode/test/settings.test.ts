import assert = require("node:assert/strict");
import { test } from "node:test";

import { CLIENT_ONLY_KEYS, sectionOf, serverSettingKeys, serverSettings, setDotted } from "../src/settings";
import type { ConfigurationLike } from "../src/settings";

function fakeConfig(global: Record<string, unknown>, workspace: Record<string, unknown> = {}): ConfigurationLike {
  return {
    get: <T>(key: string) => (workspace[key] ?? global[key]) as T,
    inspect: <T>(key: string) => ({ globalValue: global[key] as T, workspaceValue: workspace[key] as T }),
  };
}

test("setDotted builds nested camelCase objects", () => {
  const out: Record<string, unknown> = {};
  setDotted(out, "completion.maxTokens", 32);
  setDotted(out, "completion.mode", "single");
  setDotted(out, "model", "m.gguf");
  assert.deepEqual(out, { completion: { maxTokens: 32, mode: "single" }, model: "m.gguf" });
});

test("only settings the user set are sent, workspace over user", () => {
  const keys = ["model", "completion.maxTokens", "completion.mode", "context.exclude", "enable"];
  const config = fakeConfig(
    { model: "a.gguf", "completion.maxTokens": 16, "context.exclude": ["*.min.js"] },
    { "completion.maxTokens": 48 },
  );
  assert.deepEqual(serverSettings(config, keys), {
    model: "a.gguf",
    completion: { maxTokens: 48 },
    context: { exclude: ["*.min.js"] },
  });
});

test("serverSettingKeys drops client-only settings", () => {
  const pkg = {
    contributes: {
      configuration: {
        properties: {
          "qwen.serverPath": {},
          "qwen.serverArgs": {},
          "qwen.trace.server": {},
          "qwen.model": {},
          "qwen.completion.maxTokens": {},
        },
      },
    },
  };
  assert.deepEqual(serverSettingKeys(pkg), ["model", "completion.maxTokens"]);
  assert.ok(CLIENT_ONLY_KEYS.includes("serverPath"));
  assert.deepEqual(serverSettingKeys({}), []);
});

test("sectionOf answers workspace/configuration sections", () => {
  const settings = { completion: { maxTokens: 8 }, model: "x" };
  assert.deepEqual(sectionOf(settings, "qwen"), settings);
  assert.deepEqual(sectionOf(settings, "qwen.completion"), { maxTokens: 8 });
  assert.equal(sectionOf(settings, "qwen.completion.maxTokens"), 8);
  assert.equal(sectionOf(settings, "qwen.context"), null);
  assert.equal(sectionOf(settings, "python"), undefined);
});
