"""The emulator script (rules, turns, errors with positions) and the shared protocol helpers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.emulator.script import MatchState, Script, ScriptError
from engine.wire.protocol import ProtocolError, check_client_event, decode, encode, new_id

EXAMPLE = """
[[rule]]                 # rules are tried in order; first match wins
agent = "authentication"
has_tool = "authenticate_user_information"
user = "(?i)return"
say = "Thanks! Let me check that."
call = "authenticate_user_information"
arguments = { phone_number = "206 135 1246" }

[[rule]]
after = "authenticate_user_information"
output = "(?i)error"
say = "That did not work."

[[rule]]
after = "authenticate_user_information"
calls = [{ name = "transfer_to_returns", arguments = { reason = "return" } }, { name = "lookup_orders" }]

[[turn]]
user = "Hi, I want to return my snowboard"

[[turn]]
user = "My number is 206 135 1246"
"""

AUTH = "# agent: authentication\nVerify the caller."
TOOLS = ("authenticate_user_information",)


def test_parse_exposes_rules_and_turns(tmp_path: Path) -> None:
    path = tmp_path / "retail.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    script = Script.load(path)
    assert script.name == str(path)
    assert [t.user for t in script.turns] == [
        "Hi, I want to return my snowboard",
        "My number is 206 135 1246",
    ]
    first, second, third = script.rules
    assert [r.index for r in script.rules] == [0, 1, 2]
    assert first.say == "Thanks! Let me check that."
    assert [(c.name, c.arguments) for c in first.all_calls] == [
        ("authenticate_user_information", {"phone_number": "206 135 1246"})
    ]
    assert second.all_calls == [] and second.output is not None
    assert [c.name for c in third.all_calls] == ["transfer_to_returns", "lookup_orders"]


def test_match_conditions() -> None:
    script = Script.parse(EXAMPLE)
    first, second, third = script.rules
    wants_return = MatchState(AUTH, TOOLS, user_text="I'd like to RETURN this")
    assert script.match(wants_return) is first
    # every condition of the first rule is needed
    assert script.match(MatchState("# agent: returns\n", TOOLS, user_text="return")) is None
    assert script.match(MatchState(AUTH, (), user_text="return")) is None
    assert script.match(MatchState(AUTH, TOOLS, user_text="hello")) is None
    # after + output
    failed = MatchState(
        AUTH, TOOLS, function_name="authenticate_user_information", function_output='{"error": 1}'
    )
    assert script.match(failed) is second
    worked = MatchState(
        AUTH, TOOLS, function_name="authenticate_user_information", function_output='{"ok": 1}'
    )
    assert script.match(worked) is third
    assert script.match(MatchState(function_name="other", function_output="error")) is None
    # a user message never matches `after`, a function output never matches `user`
    assert script.match(MatchState(AUTH, TOOLS, user_text="authenticate_user_information error")) is None


def test_agent_marker_must_be_its_own_line() -> None:
    rule = Script.parse('[[rule]]\nagent = "sales"\nsay = "hi"').rules[0]
    assert rule.matches(MatchState("# agent: sales\nSell things."))
    assert rule.matches(MatchState("Intro\n  #agent:sales  \nmore"))
    assert not rule.matches(MatchState("# agent: sales_v2\n"))
    assert not rule.matches(MatchState("you are the sales agent"))


def test_a_rule_without_conditions_matches_anything() -> None:
    script = Script.parse('[[rule]]\nsay = "fallback"')
    assert script.match(MatchState()) is script.rules[0]
    assert script.match(MatchState(function_name="x", function_output="y")) is script.rules[0]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[[rule]]\nsay = "x"\nuser = "("', "t.toml:3:1: rule[0].user: invalid regular expression"),
        ('[[rule]]\nsay = "x"\n\n[[rule]]\nsay = "y"\nbogus = 1', "t.toml:6:1: rule[1].bogus: unknown key"),
        ('[[rule]]\nagent = "a"', "t.toml:1:1: rule[0]: a rule must answer"),
        ('[[rule]]\nsay = "x"\narguments = {a = 1}', "t.toml:1:1: rule[0]: `arguments` needs `call`"),
        ('[[rule]]\nsay = "x"\nuser = "a"\nafter = "f"', "t.toml:1:1: rule[0]: `user` cannot be combined"),
        (
            '[[rule]]\ncall = "not a name"',
            "t.toml:2:1: rule[0].call: 'not a name' is not a valid function name",
        ),
        (
            '[[rule]]\ncalls = [{name = "f", arguments = {when = 1979-05-27}}]',
            "t.toml:2:23: rule[0].calls[0].arguments: arguments must be plain JSON values",
        ),
        ("[[rule]]\ncalls = [{arguments = {}}]", "t.toml:2:10: rule[0].calls[0].name: Field required"),
        ("[[turn]]\nuser = 3", "t.toml:2:1: turn[0].user: Input should be a valid string"),
        ("[[rule]\n", "t.toml:1:7: malformed TOML"),
        ('[rules]\nsay = "x"', "t.toml:1:1: rules: unknown key"),
    ],
)
def test_errors_name_file_line_rule_and_field(text: str, where: str) -> None:
    with pytest.raises(ScriptError) as info:
        Script.parse(text, "t.toml")
    assert str(info.value).startswith(where), str(info.value)


def test_load_reports_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match=r"missing\.toml:1:1: cannot read script"):
        Script.load(tmp_path / "missing.toml")


# -- protocol helpers -----------------------------------------------------------------------------------


def test_new_id_has_the_openai_shape() -> None:
    ids = {new_id("event") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"event_[A-Za-z0-9]{20}", i) for i in ids)
    assert new_id("item_").startswith("item_") and not new_id("item_").startswith("item__")


def test_encode_decode_round_trip() -> None:
    event = {"type": "response.create", "response": {"instructions": "héllo ✓"}}
    text = encode(event)
    assert "✓" in text and " " not in text.replace("héllo ✓", "")
    assert decode(text) == decode(text.encode()) == event
    with pytest.raises(ValueError):
        encode({"type": "x", "n": float("nan")})


@pytest.mark.parametrize(
    ("frame", "field", "text"),
    [
        ("{", None, "<event>: malformed JSON"),
        ("[]", None, "<event>: an event must be a JSON object, got list"),
        ('"x"', None, "<event>: an event must be a JSON object, got str"),
        (b"\xc3\x28", None, "<event>: frame is not valid UTF-8"),
        ('{"a": Infinity}', None, "<event>: malformed JSON: Infinity is not valid JSON"),
        ('{"event_id": "e"}', "type", "<event>: type: missing required field"),
        ('{"type": ""}', "type", "<event>: type: must be a non-empty string"),
        ("[" * 100_000, None, "<event>: malformed JSON"),
    ],
)
def test_decode_errors_name_the_problem(frame: str | bytes, field: str | None, text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(frame)
    assert info.value.field == field and info.value.event_type is None
    assert str(info.value).startswith(text)


def test_check_client_event_accepts_valid_events_and_names_bad_fields() -> None:
    check_client_event(
        {"type": "response.create", "event_id": "e", "response": {"output_modalities": ["text"]}}
    )
    check_client_event(json.loads('{"type": "input_audio_buffer.commit"}'))
    with pytest.raises(ProtocolError) as info:
        check_client_event(
            {"type": "conversation.item.create", "event_id": "e9", "item": {"type": "message"}}
        )
    error = info.value
    assert (error.event_type, error.field, error.code, error.event_id) == (
        "conversation.item.create",
        "item.role",
        "invalid_value",
        "e9",
    )
    assert "conversation.item.create: item.role: Invalid value for 'item.role'" in str(error)
