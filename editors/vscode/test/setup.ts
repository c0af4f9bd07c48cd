/**
 * Loaded with `node --require` before the tests: makes `require("vscode")` and
 * `require("vscode-languageclient/node")` return the fakes, as VS Code is not available here.
 */
import Module = require("module");

import * as fakeLanguageClient from "./fakeLanguageClient";
import * as fakeVscode from "./fakeVscode";

const mod = Module as unknown as { _load: (request: string, parent: unknown, isMain: boolean) => unknown };
const originalLoad = mod._load;
mod._load = function (request: string, parent: unknown, isMain: boolean): unknown {
  if (request === "vscode") {
    return fakeVscode;
  }
  if (request === "vscode-languageclient/node") {
    return fakeLanguageClient;
  }
  return originalLoad.call(this, request, parent, isMain);
};
