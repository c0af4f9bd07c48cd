import assert = require("node:assert/strict");
import { test } from "node:test";

import { InlineCompletionMiddleware, isPartialCompletionParams } from "../src/inline";
import { CancellationTokenSource } from "./fakeVscode";

type Tok = CancellationTokenSource["token"];
type Result = { text: string }[];

interface Harness {
  mw: InlineCompletionMiddleware<Result, Tok>;
  retriggers: string[];
  flags: { enabled: boolean; streaming: boolean };
}

function harness(streaming: boolean): Harness {
  const retriggers: string[] = [];
  const flags = { enabled: true, streaming };
  const mw = new InlineCompletionMiddleware<Result, Tok>({
    enabled: () => flags.enabled,
    streaming: () => flags.streaming,
    newCancellationSource: () => new CancellationTokenSource(),
    partialResult: (text) => [{ text }],
    retrigger: (uri) => retriggers.push(uri),
  });
  return { mw, retriggers, flags };
}

const doc = (version: number) => ({ uri: { toString: () => "file:///a.py" }, version });
const pos = { line: 3, character: 4 };

/** A server request the test resolves by hand, remembering the token it was given. */
function deferredNext() {
  const calls: { token: Tok; resolve: (r: Result) => void }[] = [];
  const next = (_d: unknown, _p: unknown, _c: unknown, token: Tok) =>
    new Promise<Result>((resolve) => calls.push({ token, resolve }));
  return { calls, next };
}

test("disabled: no server request at all", async () => {
  const { mw, flags } = harness(false);
  flags.enabled = false;
  let called = false;
  const r = await mw.provide(doc(1), pos, {}, new CancellationTokenSource().token, () => {
    called = true;
    return [];
  });
  assert.equal(r, null);
  assert.equal(called, false);
});

test("without streaming the editor's token goes straight to the server", async () => {
  const { mw } = harness(false);
  const { calls, next } = deferredNext();
  const source = new CancellationTokenSource();
  const p = mw.provide(doc(1), pos, {}, source.token, next);
  assert.equal(calls[0].token, source.token);
  calls[0].resolve([{ text: "x" }]);
  assert.deepEqual(await p, [{ text: "x" }]);
});

test("streaming: partial text is served on re-trigger, then the final answer", async () => {
  const { mw, retriggers } = harness(true);
  const { calls, next } = deferredNext();
  const first = new CancellationTokenSource();
  const p1 = mw.provide(doc(7), pos, {}, first.token, next);
  assert.equal(calls.length, 1);

  assert.ok(mw.onPartial({ uri: "file:///a.py", version: 7, position: pos, text: "ret", done: false }));
  assert.deepEqual(retriggers, ["file:///a.py"]);
  // VS Code cancels the first provider call when it re-triggers ...
  first.cancel();
  assert.equal(await p1, undefined);
  // ... but the server request goes on.
  assert.equal(calls[0].token.isCancellationRequested, false);
  const p2 = await mw.provide(doc(7), pos, {}, new CancellationTokenSource().token, next);
  assert.deepEqual(p2, [{ text: "ret" }]);
  assert.equal(calls.length, 1, "no second server request for the same version and position");

  // a partial for another position is ignored
  assert.ok(!mw.onPartial({ uri: "file:///a.py", version: 7, position: { line: 3, character: 5 }, text: "zz", done: false }));

  calls[0].resolve([{ text: "return x" }]);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(retriggers, ["file:///a.py", "file:///a.py"], "final answer pushed with a second trigger");
  const p3 = await mw.provide(doc(7), pos, {}, new CancellationTokenSource().token, next);
  assert.deepEqual(p3, [{ text: "return x" }]);
});

test("streaming: typing (a new version) cancels the server request in flight", async () => {
  const { mw } = harness(true);
  const { calls, next } = deferredNext();
  void mw.provide(doc(1), pos, {}, new CancellationTokenSource().token, next);
  void mw.provide(doc(2), { line: 3, character: 5 }, {}, new CancellationTokenSource().token, next);
  assert.equal(calls.length, 2);
  assert.equal(calls[0].token.isCancellationRequested, true);
  assert.equal(calls[1].token.isCancellationRequested, false);
  assert.ok(!mw.onPartial({ uri: "file:///a.py", version: 1, position: pos, text: "old", done: false }));
});

test("streaming: disabling cancels what is in flight", async () => {
  const { mw, flags } = harness(true);
  const { calls, next } = deferredNext();
  void mw.provide(doc(1), pos, {}, new CancellationTokenSource().token, next);
  flags.enabled = false;
  assert.equal(await mw.provide(doc(1), pos, {}, new CancellationTokenSource().token, next), null);
  assert.equal(calls[0].token.isCancellationRequested, true);
});

test("partial notification validation", () => {
  assert.ok(isPartialCompletionParams({ uri: "u", version: 1, position: { line: 0, character: 0 }, text: "", done: true }));
  assert.ok(!isPartialCompletionParams({ uri: "u", version: "1", position: { line: 0, character: 0 }, text: "", done: true }));
  assert.ok(!isPartialCompletionParams({ uri: "u", version: 1, text: "", done: true }));
});
