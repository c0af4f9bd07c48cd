import assert = require("node:assert/strict");
import { test } from "node:test";

import { isStatusParams, shortModelName, viewForClientState, viewForStatus } from "../src/status";

test("model names are shortened to the file stem", () => {
  assert.equal(shortModelName("/models/qwen2.5-coder-1.5b-q8_0.gguf"), "qwen2.5-coder-1.5b-q8_0");
  assert.equal(shortModelName("C:\\m\\Q.GGUF"), "Q");
  assert.equal(shortModelName("qwen2.5-coder-0.5b"), "qwen2.5-coder-0.5b");
  assert.equal(shortModelName(""), "");
});

test("each server state has its own look", () => {
  const ready = viewForStatus({ state: "ready", model: "/m/q.gguf", lastLatencyMs: 123.4 });
  assert.equal(ready.text, "$(sparkle) Qwen q · 123 ms");
  assert.equal(ready.background, undefined);
  assert.match(ready.tooltip, /Last completion: 123 ms/);
  const loading = viewForStatus({ state: "loading", model: "q" });
  assert.match(loading.text, /sync~spin/);
  const error = viewForStatus({ state: "error", model: "q", message: "model file not found" });
  assert.equal(error.background, "statusBarItem.errorBackground");
  assert.match(error.tooltip, /model file not found/);
  assert.match(viewForStatus({ state: "disabled", model: "" }).text, /circle-slash/);
  assert.match(viewForClientState("missing", "install it").tooltip, /install it/);
});

test("malformed notifications are recognised", () => {
  assert.ok(isStatusParams({ state: "ready", model: "x" }));
  assert.ok(!isStatusParams({ state: "weird", model: "x" }));
  assert.ok(!isStatusParams(null));
  assert.ok(!isStatusParams({ state: "ready", model: 3 }));
});
