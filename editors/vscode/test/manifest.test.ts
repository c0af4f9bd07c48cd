/** Checks of package.json that VS Code would only report at install or run time. */
import assert = require("node:assert/strict");
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

const root = path.join(__dirname, "..", "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));

test("activation: on startup, and main points at the compiled entry point", () => {
  assert.deepEqual(pkg.activationEvents, ["onStartupFinished"]);
  assert.equal(pkg.main, "./out/src/extension.js");
  assert.ok(fs.existsSync(path.join(root, pkg.main)), "compiled entry point exists");
});

test("engines: vscode-languageclient 11 needs VS Code 1.91 or later", () => {
  assert.equal(pkg.engines.vscode, "^1.91.0");
  const lcPkg = JSON.parse(
    fs.readFileSync(path.join(root, "node_modules", "vscode-languageclient", "package.json"), "utf8"),
  );
  assert.equal(lcPkg.engines.vscode, pkg.engines.vscode);
  assert.equal(pkg.devDependencies["@types/vscode"], "1.91.0", "@types/vscode must not be newer than engines");
});

test("every contributed command has a title and the Qwen category", () => {
  for (const c of pkg.contributes.commands) {
    assert.match(c.command, /^qwenLs\./);
    assert.ok(c.title && c.category === "Qwen", c.command);
  }
});

test("keybindings only act while an inline suggestion is visible", () => {
  for (const k of pkg.contributes.keybindings) {
    assert.match(k.command, /^editor\.action\.inlineSuggest\.accept(NextWord|NextLine)$/);
    assert.match(k.when, /inlineSuggestionVisible/);
  }
});

test("settings: all under qwen., each with a type, default and description", () => {
  const props = pkg.contributes.configuration.properties as Record<string, Record<string, unknown>>;
  for (const [key, schema] of Object.entries(props)) {
    assert.match(key, /^qwen\.[a-zA-Z.]+$/);
    assert.ok(schema.type, `${key} type`);
    assert.ok("default" in schema, `${key} default`);
    assert.ok(schema.description || schema.markdownDescription, `${key} description`);
  }
  for (const key of ["qwen.model", "qwen.enable", "qwen.completion.deadlineMs", "qwen.repair.model", "qwen.streaming"]) {
    assert.ok(key in props, key);
  }
});
