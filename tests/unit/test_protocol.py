"""qwen-ls's custom protocol (`qwen_ls.protocol`): wire names, round trips, and argument errors that
name the field; and the Qwen facts every part of the server shares (`qwen_ls.qwen`)."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from qwen_ls import protocol, qwen
from tests.helpers import FakeTokenizer

C = protocol.CONVERTER


def test_notifications_go_out_in_camel_case_without_nulls() -> None:
    status = protocol.StatusParams(state=protocol.ModelState.Ready, model="m.gguf", last_latency_ms=87.5)
    assert C.unstructure(status) == {"state": "ready", "model": "m.gguf", "lastLatencyMs": 87.5}
    partial = protocol.PartialCompletionParams(
        uri="file:///a.py", version=None, position=types.Position(line=1, character=2), text="x", done=True
    )
    assert C.unstructure(partial) == {
        "uri": "file:///a.py",
        "version": None,  # a required field: sent even when null
        "position": {"line": 1, "character": 2},
        "text": "x",
        "done": True,
    }
    assert C.structure(C.unstructure(status), protocol.StatusParams) == status


def test_results_with_an_owned_json_part_are_flat_on_the_wire_and_read_back() -> None:
    result = protocol.StatsResult(
        summary={"requests": 3, "outcomes": {"shown": 2}},
        model=protocol.ModelSummary(state="ready", message="", load_seconds=0.25),
        jobs_started={"completion": 3},
    )
    wire = C.unstructure(result)
    assert wire == {
        "requests": 3,
        "outcomes": {"shown": 2},
        "model": {"state": "ready", "message": "", "loadSeconds": 0.25},
        "jobsStarted": {"completion": 3},
    }
    assert C.structure(wire, protocol.StatsResult) == result
    explained = protocol.ExplainContextResult(report={"file": "a.py"}, prompt_tokens=12)
    assert C.unstructure(explained) == {"file": "a.py", "snippets": [], "promptTokens": 12}


def test_fix_data_round_trips_through_a_code_action() -> None:
    diag = types.Diagnostic(
        range=types.Range(start=types.Position(line=1, character=0), end=types.Position(line=1, character=3)),
        message="expected ':'",
    )
    fix = protocol.FixData(uri="file:///a.py", diagnostic=diag, version=4)
    data = C.unstructure(fix)
    assert "hash" not in data and data["diagnostic"]["message"] == "expected ':'"
    args = protocol.structure_arguments(protocol.ApplyFixArguments, protocol.APPLY_FIX, [data])
    assert args.data == fix


@pytest.mark.parametrize(
    ("cls", "arguments", "words"),
    [
        (protocol.ApplyFixArguments, [{"uri": "file:///a.py"}], ["data.diagnostic", "missing"]),
        (protocol.ApplyFixArguments, None, ["missing argument data"]),
        (protocol.ExplainContextArguments, ["u", {"line": 1}], ["position.character"]),
        (protocol.ExplainContextArguments, ["u", {"line": 1, "character": 2}, 3], ["takes 2", "got 3"]),
        (protocol.StatsArguments, [{"recent": [1]}], ["options.recent"]),
    ],
)
def test_argument_errors_are_invalid_params_naming_the_field(
    cls: type, arguments: list[object] | None, words: list[str]
) -> None:
    with pytest.raises(JsonRpcInvalidParams) as info:
        protocol.structure_arguments(cls, "qwen.x", arguments)
    assert info.value.code == -32602
    for word in ["qwen.x", *words]:
        assert word in str(info.value)


def test_optional_arguments_may_be_left_out() -> None:
    assert protocol.structure_arguments(protocol.StatsArguments, protocol.STATS, []).options is None
    assert protocol.structure_arguments(protocol.StatsArguments, protocol.STATS, None).options is None
    args = protocol.structure_arguments(protocol.StatsArguments, protocol.STATS, [{"recent": 7}])
    assert args.options == protocol.StatsOptions(recent=7)


def test_stop_set_and_rendering_with_special_tokens() -> None:
    tok = FakeTokenizer()
    assert qwen.stop_ids(tok.special_id) == frozenset(qwen.SPECIAL_IDS[t] for t in qwen.STOP_TEXTS)
    # a vocabulary that lacks a token: only what it has, unless the released ids are the fallback
    assert qwen.stop_ids(lambda text: None) == frozenset()
    assert qwen.stop_ids(lambda text: None, fallback=True) == qwen.stop_ids(tok.special_id)
    text = f"{qwen.FIM_PREFIX}def f(x):{qwen.FIM_SUFFIX}\n{qwen.FIM_MIDDLE}"
    ids = qwen.encode_with_specials(text, tok.tokenize, tok.special_id)
    assert ids[0] == qwen.SPECIAL_IDS[qwen.FIM_PREFIX] and ids[-1] == qwen.SPECIAL_IDS[qwen.FIM_MIDDLE]
    specials = {tid: t for t, tid in qwen.special_ids(tok.special_id).items()}
    assert qwen.render_tokens(ids, specials, tok.detokenize) == text
    with pytest.raises(qwen.MissingSpecialToken, match="im_start"):
        qwen.encode_with_specials(f"{qwen.IM_START}user", tok.tokenize, lambda t: None)
