"""Streaming to opted-in clients, typed-ahead answers, and after-accept prefetch, over stdio."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from lsprotocol import types

from tests.conftest import needs_llama
from tests.e2e.lsp import inline_params, insert, open_doc, session

pytestmark = [needs_llama, pytest.mark.slow, pytest.mark.timeout(180)]

TEXT = "".join(f"word{i} alpha beta gamma delta {i}\n" for i in range(40))


def _workspace(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "notes.txt").write_text(TEXT)
    return root


async def _stats(client) -> dict:  # type: ignore[no-untyped-def]
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command="qwen.stats"))


async def _wait_idle(client) -> dict:  # type: ignore[no-untyped-def]
    for _ in range(100):
        stats = await _stats(client)
        if not stats["busy"]:
            return stats
        await asyncio.sleep(0.05)
    raise AssertionError("the engine never went idle")


async def test_streaming_reaches_an_opted_in_client(tmp_path: Path, tiny_model: Path) -> None:
    root = _workspace(tmp_path)
    options = {
        "model": str(tiny_model),
        "streaming": True,
        "completion": {"debounceMs": 0, "maxTokens": 24, "deadlineMs": 0, "mode": "multi"},
    }
    async with session(root, init_options=options) as (client, rec):
        await rec.wait_state("ready")
        uri = open_doc(client, root / "notes.txt", TEXT, "plaintext")
        result = await client.text_document_inline_completion_async(inline_params(uri, 20, 0))
        await asyncio.sleep(0.1)
        assert result is not None and result.items
        partial = [p for p in rec.partial if not p["done"]]
        final = [p for p in rec.partial if p["done"]]
        # partials (at most one per 40 ms) went out while it was generated, before the answer
        assert len(partial) >= 1
        texts = [p["text"] for p in partial]
        assert all(len(a) <= len(b) for a, b in itertools.pairwise(texts))
        assert final and final[-1]["text"] == result.items[0].insert_text
        position = partial[0]["position"]
        assert partial[0]["uri"] == uri and (position.line, position.character) == (20, 0)


async def test_no_streaming_without_opt_in(tmp_path: Path, tiny_model: Path) -> None:
    root = _workspace(tmp_path)
    options = {"model": str(tiny_model), "completion": {"debounceMs": 0, "maxTokens": 16, "deadlineMs": 0}}
    async with session(root, init_options=options) as (client, rec):
        await rec.wait_state("ready")
        uri = open_doc(client, root / "notes.txt", TEXT, "plaintext")
        await client.text_document_inline_completion_async(inline_params(uri, 20, 0))
        await asyncio.sleep(0.1)
        assert rec.partial == []


async def test_typing_along_a_suggestion_needs_no_model_call(tmp_path: Path, tiny_model: Path) -> None:
    root = _workspace(tmp_path)
    options = {
        "model": str(tiny_model),
        "completion": {"debounceMs": 0, "maxTokens": 16, "deadlineMs": 0, "mode": "single"},
    }
    async with session(root, init_options=options) as (client, rec):
        await rec.wait_state("ready")
        uri = open_doc(client, root / "notes.txt", TEXT, "plaintext")
        line = 10
        col = len(f"word{line} alpha beta gamma delta {line}")
        first = await client.text_document_inline_completion_async(
            inline_params(uri, line, col, invoked=False)
        )
        assert first is not None and first.items
        shown = first.items[0].insert_text
        assert isinstance(shown, str) and len(shown) >= 3
        stats = await _wait_idle(client)
        started = stats["generationsStarted"]
        typed = shown[:2]
        insert(client, uri, 2, line, col, typed)
        second = await client.text_document_inline_completion_async(
            inline_params(uri, line, col + 2, invoked=False)
        )
        assert second is not None and second.items
        assert second.items[0].insert_text == shown[2:]
        stats = await _stats(client)
        assert stats["last"]["outcome"] == "typed-ahead"
        assert stats["generationsStarted"] == started  # no generation for it


@pytest.mark.parametrize("read_first", [True, False], ids=["after-reading", "at-once"])
async def test_accepting_is_answered_from_the_prefetch(
    tmp_path: Path, tiny_model: Path, read_first: bool
) -> None:
    """Accepting a suggestion and going on is answered from the work done past it in idle time: after
    reading it (that work is done), or at once (the request waits for that work rather than preempting
    it and starting over)."""
    root = _workspace(tmp_path)
    options = {
        "model": str(tiny_model),
        "completion": {
            "debounceMs": 0,
            "maxTokens": 12,
            "deadlineMs": 0,
            "mode": "single",
            "prefetchTokens": 48,
        },
    }
    async with session(root, init_options=options) as (client, rec):
        await rec.wait_state("ready")
        uri = open_doc(client, root / "notes.txt", TEXT, "plaintext")
        hits = 0
        for attempt, line in enumerate((12, 16, 20, 24)):
            col = len(f"word{line} alpha beta gamma delta {line}")
            first = await client.text_document_inline_completion_async(
                inline_params(uri, line, col, invoked=False)
            )
            assert first is not None
            if not first.items:
                continue
            shown = first.items[0].insert_text
            assert isinstance(shown, str)
            if read_first:
                stats = await _wait_idle(client)  # the continuation past the answer ran in idle time
            else:
                stats = await _stats(client)  # it is still running (or about to)
            started = stats["generationsStarted"]
            insert(client, uri, 2 + 2 * attempt, line, col, shown)  # the user accepts it
            end_line = line + shown.count("\n")
            end_col = (col + len(shown)) if "\n" not in shown else len(shown.rsplit("\n", 1)[1])
            after = await client.text_document_inline_completion_async(
                inline_params(uri, end_line, end_col, invoked=False)
            )
            stats = await _stats(client)
            assert after is not None
            if stats["last"]["outcome"] == "typed-ahead":  # from the continuation: no model call
                assert stats["generationsStarted"] == started
                hits += 1
            # undo, so the next attempt works on the original text
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=3 + 2 * attempt),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(text=TEXT)],
                )
            )
        assert hits >= 1


async def test_prefetch_yields_to_a_real_request(tmp_path: Path, tiny_model: Path) -> None:
    root = _workspace(tmp_path)
    # a long continuation past each answer (idle work) that a real request must preempt at once
    options = {
        "model": str(tiny_model),
        "completion": {
            "debounceMs": 0,
            "maxTokens": 8,
            "deadlineMs": 0,
            "mode": "multi",
            "prefetchTokens": 3000,
        },
    }
    async with session(root, init_options=options) as (client, rec):
        await rec.wait_state("ready")
        uri = open_doc(client, root / "notes.txt", TEXT, "plaintext")
        observed = False
        for line in (5, 9, 13, 17, 21):
            first = await client.text_document_inline_completion_async(inline_params(uri, line, 0))
            assert first is not None
            stats = await _stats(client)
            if not stats["busy"]:
                continue  # the continuation ended by itself already: nothing to preempt this time
            t0 = asyncio.get_running_loop().time()
            real = await asyncio.wait_for(
                client.text_document_inline_completion_async(inline_params(uri, 30, 0)), 20
            )
            assert real is not None
            assert asyncio.get_running_loop().time() - t0 < 10
            stats = await _stats(client)
            if stats["idlePreempted"] < 1:
                continue  # the continuation ended between the two requests: try again
            observed = True
            break
        assert observed


def _python_workspace(tmp_path: Path) -> tuple[Path, str]:
    """A package whose modules the context engine ranks differently depending on what is typed."""
    root = tmp_path / "shop"
    (root / "shop").mkdir(parents=True)
    for name, noun in (("orders", "order"), ("invoices", "invoice"), ("stock", "item")):
        body = "".join(
            f"def {noun}_{verb}({noun}_id: int, amount: float) -> float:\n"
            f'    """{verb.capitalize()} the {noun} {{{noun}_id}}."""\n'
            f"    return amount * {i + 2} + {noun}_id\n\n\n"
            for i, verb in enumerate(("total", "discount", "tax", "refund", "weight", "reserve"))
        )
        (root / "shop" / f"{name}.py").write_text(body)
    main = (
        "from shop.invoices import invoice_total\n"
        "from shop.orders import order_total\n"
        "from shop.stock import item_total\n\n\n"
        "def report(order_id: int) -> float:\n"
        "    value = 0.0\n"
        "    return value\n"
    )
    (root / "shop" / "main.py").write_text(main)
    return root, main


async def test_typing_never_reevaluates_a_changed_context(tmp_path: Path, tiny_model: Path) -> None:
    """Context changes happen in idle time: no typing request re-evaluates from inside the context."""
    root, main = _python_workspace(tmp_path)
    options = {
        "model": str(tiny_model),
        "completion": {
            "debounceMs": 0,
            "maxTokens": 4,
            "deadlineMs": 0,
            "mode": "single",
            "prefetchTokens": 0,
        },
    }
    async with session(root, init_options=options) as (client, rec):
        await rec.wait_state("ready")
        uri = open_doc(client, root / "shop" / "main.py", main)
        await _settle(client)  # the index builds; the document's first context is made in idle time
        line = main.count("\n", 0, main.index("    return value"))
        version, col = 1, 0
        for ch in "    v = order_total(1)\n    w = invoice_tax(2)\n":
            version += 1
            insert(client, uri, version, line, col, ch)
            line, col = (line + 1, 0) if ch == "\n" else (line, col + 1)
            if ch.isalnum() or ch == "_" or ch == " ":
                continue  # inside a word: the editor's request is superseded by the next keystroke anyway
            result = await client.text_document_inline_completion_async(
                inline_params(uri, line, col, invoked=False)
            )
            assert result is not None
            await _settle(client)  # a pause: the context is re-ranked in idle time
        stats = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="qwen.stats", arguments=[{"recent": 500}])
        )
    hold = stats["contextHold"]
    typing = [m for m in stats["recent"] if not m["invoked"] and m["context_tokens"] > 0 and m["evaluated"]]
    assert len(typing) >= 6
    # the context never changed under a keystroke: every typing request reused the whole context block
    paid = [
        (m["reused"], m["context_tokens"], m["evaluated"])
        for m in typing
        if m["reused"] < m["context_tokens"]
    ]
    assert paid == []
    assert hold["held"] >= len(typing) - 1 and hold["first"] <= 1
    assert hold["refreshes"] >= 2  # re-ranked at the pauses, off the keystroke path
    if hold["changesIdle"]:
        assert hold["tokensIdle"] > 0


async def _settle(client) -> None:  # type: ignore[no-untyped-def]
    """Wait until the server has no work left (idle refreshes included), on a slow machine too."""
    for _ in range(3):  # a refresh is re-ranked in a thread before it reaches the lane: look again
        await asyncio.sleep(0.3)
        for _ in range(600):
            if not (await _stats(client))["busy"]:
                break
            await asyncio.sleep(0.05)
