"""Supervisor backends: the scripted rules (real ToolRegistry, real timer) and the OpenAI Responses loop (the
real SDK over a real loopback socket, against a stand-in server that answers in the Responses API's shape)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI
from openai.types.responses import Response

from engine.flow.loader import FlowDocument, load_flow, parse_flow
from engine.runtime.tools import ToolRegistry
from engine.session.actions import EscalationRequest
from engine.supervisor.backend import (
    SupervisorAnswer,
    SupervisorConfigError,
    SupervisorFailure,
)
from engine.supervisor.factory import make_supervisor
from engine.supervisor.openai import OpenAISupervisor
from engine.supervisor.scripted import ScriptedSupervisor

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SCRIPT = "scripts/chat_supervisor_supervisor.toml"

ACCOUNT: dict[str, Any] = {
    "name": "Alex",
    "latest_bill": {"amount": "$42.17", "items": ["plan", "roaming"]},
    "address": {"zip": 94105},
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "get_user_account_info": {
        "type": "object",
        "required": ["phone_number"],
        "additionalProperties": False,
        "properties": {"phone_number": {"type": "string"}},
    },
    "find_nearest_store": {
        "type": "object",
        "required": ["zip_code"],
        "properties": {"zip_code": {"type": "string"}},
    },
    "broken_tool": {"type": "object", "properties": {}},
    "unbound_tool": {"type": "object", "properties": {}},
}


class Tools:
    """Real tool functions (sync, async, failing) that record their calls, bound in a real ToolRegistry."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.registry = ToolRegistry(
            {  # "unbound_tool" has no implementation: LookupError
                "get_user_account_info": self.account,
                "find_nearest_store": self.stores,
                "broken_tool": self.broken,
            }
        )

    def account(self, *, phone_number: str) -> dict[str, Any]:
        self.calls.append(("get_user_account_info", {"phone_number": phone_number}))
        return copy.deepcopy(ACCOUNT)

    async def stores(self, *, zip_code: Any) -> dict[str, Any]:
        self.calls.append(("find_nearest_store", {"zip_code": zip_code}))
        return {"stores": [{"name": f"Store near {zip_code}"}, {"name": "Second store"}]}

    def broken(self) -> None:
        self.calls.append(("broken_tool", {}))
        raise RuntimeError("db down")


Turns = tuple[tuple[str, str], ...]


def request(relevant: str = "", transcript: Turns = (), **context: Any) -> EscalationRequest:
    return EscalationRequest("c1-esc1", "front", relevant, transcript, dict(context), 3)


def scripted(rules: str, tools: Tools) -> ScriptedSupervisor:
    return ScriptedSupervisor.parse(rules, tools.registry, name="rules.toml", tool_schemas=SCHEMAS)


def ask(backend: Any, req: EscalationRequest, rounds: int = 4) -> SupervisorAnswer:
    answer: SupervisorAnswer = asyncio.run(backend.answer(req, max_tool_rounds=rounds))
    return answer


# -- scripted: matching, tools, templates ------------------------------------------------------------------


ORDER_RULES = """
[[rule]]
match = "(?i)refund"
answer = "A"
[[rule]]
match = "(?i)bill"
answer = "B"
[[rule]]
match = "(?i)bill|refund"
answer = "C"
[[rule]]
match = ".*"
answer = "D"
"""


@pytest.mark.parametrize(
    ("relevant", "transcript", "expected"),
    [
        ("my bill and a refund", (), "A"),  # both of the first two match: the first rule wins
        ("my bill", (), "B"),  # the third would match too
        (
            "",
            (("user", "a refund please"), ("assistant", "ok"), ("user", "my bill")),
            "B",
        ),  # the LAST user turn
        ("hello", (("user", "my bill"),), "D"),  # a non-blank relevant context is the only subject
        ("   ", (), "D"),
    ],
)
def test_first_matching_rule_answers(relevant: str, transcript: Turns, expected: str) -> None:
    answer = ask(scripted(ORDER_RULES, Tools()), request(relevant, transcript))
    assert answer == SupervisorAnswer(expected, 0, ())


CHAIN_RULES = r'''
[[rule]]
match = '(?i)bill.*?(?P<phone>\d{3}-\d{4})'
tools = [
  { name = "get_user_account_info", arguments = { phone_number = "+1 {match.phone}" } },
  { name = "find_nearest_store", arguments = { zip_code = "{get_user_account_info.address.zip}" } },
]
answer = """{context.caller}: {get_user_account_info.latest_bill.amount} \
({get_user_account_info.latest_bill.items.1}); {find_nearest_store.stores.0.name}; {{literal}} {match}"""
'''


def test_tool_rounds_run_through_the_registry_and_fill_the_template() -> None:
    tools = Tools()
    answer = ask(scripted(CHAIN_RULES, tools), request("bill for 555-1234", caller="Alex"))
    assert answer.text == "Alex: $42.17 (roaming); Store near 94105; {literal} bill for 555-1234"
    assert (answer.tool_rounds, answer.tool_calls) == (2, ("get_user_account_info", "find_nearest_store"))
    # a string argument that is exactly one placeholder keeps the value's type (the zip is an int here)
    assert tools.calls == [
        ("get_user_account_info", {"phone_number": "+1 555-1234"}),
        ("find_nearest_store", {"zip_code": 94105}),
    ]


CAPPED_RULES = """
[[rule]]
match = "capped"
tools = [
  { name = "get_user_account_info", arguments = { phone_number = "1" } },
  { name = "find_nearest_store", arguments = { zip_code = "94105" } },
]
answer = "{get_user_account_info.name} / {find_nearest_store.stores.0.name}"
[[rule]]
match = "fallback"
tools = [
  { name = "get_user_account_info", arguments = { phone_number = "1" } },
  { name = "find_nearest_store", arguments = { zip_code = "94105" } },
]
answer = "all good"
fallback = "partial: {get_user_account_info.name} / {find_nearest_store.stores.0.name}"
"""


@pytest.mark.parametrize(
    ("subject", "rounds", "text", "calls"),
    [
        ("capped", 4, "Alex / Store near 94105", ("get_user_account_info", "find_nearest_store")),
        ("capped", 1, "Alex / (unavailable)", ("get_user_account_info",)),
        ("capped", 0, "(unavailable) / (unavailable)", ()),
        ("fallback", 4, "all good", ("get_user_account_info", "find_nearest_store")),
        ("fallback", 1, "partial: Alex / (unavailable)", ("get_user_account_info",)),
    ],
)
def test_tool_calls_beyond_max_tool_rounds_are_not_made(
    subject: str, rounds: int, text: str, calls: tuple[str, ...]
) -> None:
    tools = Tools()
    answer = ask(scripted(CAPPED_RULES, tools), request(subject), rounds)
    assert answer == SupervisorAnswer(text, len(calls), calls)
    assert tuple(name for name, _ in tools.calls) == calls


ERROR_RULES = """
[[rule]]
match = "broken"
tools = [
  { name = "broken_tool" },
  { name = "find_nearest_store", arguments = { zip_code = "{broken_tool.zip}" } },
  { name = "get_user_account_info", arguments = { phone_number = "1" } },
]
answer = "[{broken_tool}] [{find_nearest_store}] [{get_user_account_info.name}]"
[[rule]]
match = "unbound"
tools = [{ name = "unbound_tool" }]
answer = "[{unbound_tool.x}]"
fallback = "no data ({unbound_tool})"
"""


def test_a_tool_that_raises_counts_as_a_round_and_renders_unavailable() -> None:
    tools = Tools()
    answer = ask(scripted(ERROR_RULES, tools), request("broken"))
    # the store call needs the broken tool's result: it is not made (no round), and is unavailable too
    assert answer == SupervisorAnswer(
        "[(unavailable)] [(unavailable)] [Alex]", 2, ("broken_tool", "get_user_account_info")
    )
    assert [name for name, _ in tools.calls] == ["broken_tool", "get_user_account_info"]
    # no implementation (LookupError) is a tool error too; the rule's fallback then answers
    assert ask(scripted(ERROR_RULES, tools), request("unbound")) == SupervisorAnswer(
        "no data ((unavailable))", 1, ("unbound_tool",)
    )


def test_a_placeholder_that_is_not_there_renders_unknown() -> None:
    rules = """
    [[rule]]
    match = ".*"
    tools = [{ name = "get_user_account_info", arguments = { phone_number = "{context.phone}" } }]
    answer = "{context.caller}|{context.missing}|{get_user_account_info.x.0}|{get_user_account_info.name.9}"
    """
    tools = Tools()
    answer = ask(scripted(rules.replace("\n    ", "\n"), tools), request("x", caller="Alex"))
    assert answer.text == "Alex|(unknown)|(unknown)|(unknown)"
    assert tools.calls == [("get_user_account_info", {"phone_number": "(unknown)"})]


def test_hang_never_answers_and_the_caller_timeout_cancels_it() -> None:
    rules = """
[[rule]]
match = "(?i)slow"
tools = [{ name = "get_user_account_info", arguments = { phone_number = "1" } }]
hang = true
"""
    tools = Tools()
    backend = scripted(rules, tools)

    async def go() -> float:
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(backend.answer(request("slow please"), max_tool_rounds=4), 0.05)
        return time.perf_counter() - started

    elapsed = asyncio.run(go())
    assert 0.04 <= elapsed < 2.0  # ended by the 50 ms timer, not by an answer
    assert tools.calls == [("get_user_account_info", {"phone_number": "1"})]  # the tools ran before the hang


def test_fail_and_no_match_raise_supervisor_failure() -> None:
    rules = """
[[rule]]
match = "(?i)broken"
fail = "backend exploded"
[[rule]]
match = "(?i)bill"
answer = "ok"
"""
    backend = scripted(rules, Tools())
    with pytest.raises(SupervisorFailure, match=r"^backend exploded$"):
        ask(backend, request("it is BROKEN"))
    with pytest.raises(SupervisorFailure, match=r"rules\.toml: no rule matches 'the weather'"):
        ask(backend, request("", (("user", "the weather"),)))


# -- scripted: load-time errors ----------------------------------------------------------------------------

OK_RULE = '[[rule]]\nmatch = "x"\nanswer = "ok"\n'
ACCOUNT_CALL = (
    '[[rule]]\nmatch = "y"\nanswer = "ok"\ntools = [{ name = "get_user_account_info", arguments = %s }]\n'
)
BAD_SCRIPTS = [
    # (rules text, text the error is located at, expected message)
    ('[[rule]\nmatch = "x"\n', "[[rule]", "malformed TOML"),
    (OK_RULE + '[[rule]]\nmatch = "y"\nanswer = "ok"\nbogus = 1\n', "bogus", "rule[1].bogus: unknown key"),
    ('[[rule]]\nmatch = "(unclosed"\nanswer = "ok"\n', "match", "rule[0].match: invalid regular expression"),
    (
        OK_RULE + '[[rule]]\nmatch = "y"\nanswer = "Hi {nope.x}"\n',
        'answer = "Hi',
        "rule[1].answer: unknown placeholder {nope.x}",
    ),
    (
        '[[rule]]\nmatch = "y"\nanswer = "{find_nearest_store.stores}"\n',
        "answer",
        "rule[0].answer: unknown placeholder {find_nearest_store.stores}",
    ),
    (
        '[[rule]]\nmatch = "(?P<zip>\\\\d+)"\nanswer = "{match.phone}"\n',
        "answer",
        "rule[0].answer: placeholder {match.phone}: the `match` regex has no such group",
    ),
    ('[[rule]]\nmatch = "y"\nanswer = "a { b"\n', "answer", "rule[0].answer: stray '{'"),
    ('[[rule]]\nmatch = "y"\nanswer = "{ no path! }"\n', "answer", "rule[0].answer: malformed placeholder"),
    (
        '[[rule]]\nmatch = "y"\nanswer = "ok"\ntools = [\n'
        '  { name = "find_nearest_store", arguments = { zip_code = "{broken_tool.z}" } },\n'
        '  { name = "broken_tool" },\n]\n',
        "tools",
        "rule[0].tools: tools[0].arguments: unknown placeholder {broken_tool.z}",
    ),
    (
        '[[rule]]\nmatch = "y"\ntools = [{ name = "match" }]\nanswer = "ok"\n',
        "tools",
        "rule[0].tools: tools[0]: a tool named 'match' would hide the {match.…} placeholders",
    ),
    (
        '[[rule]]\nmatch = "y"\ntools = [{ name = "transfer_money" }]\nanswer = "ok"\n',
        "tools",
        "rule[0].tools: tools[0]: 'transfer_money' is not one of the supervisor's tools",
    ),
    (
        ACCOUNT_CALL % '{ phone = "1" }',
        "tools",
        "rule[0].tools: tools[0].arguments: 'phone_number' is a required property",
    ),
    (
        ACCOUNT_CALL % "{ phone_number = 12 }",
        "tools",
        "rule[0].tools: tools[0].arguments.phone_number: 12 is not of type 'string'",
    ),
    (
        '[[rule]]\nmatch = "y"\ntools = [{ name = "broken_tool" }, { name = "broken_tool" }]\nanswer = "ok"\n',
        "tools",
        "tools[1]: 'broken_tool' is called twice",
    ),
    (
        '[[rule]]\nmatch = "y"\n',
        "[[rule]]",
        "rule[0]: a rule needs exactly one of `answer`, `hang = true`, `fail`",
    ),
    ('[[rule]]\nmatch = "y"\nanswer = "a"\nhang = true\n', "[[rule]]", "(got answer and hang)"),
    (
        '[[rule]]\nmatch = "y"\nanswer = "a"\nfallback = "b"\n',
        "[[rule]]",
        "`fallback` needs `answer` and `tools`",
    ),
    ('[[rule]]\nanswer = "a"\n', "[[rule]]", "rule[0].match: Field required"),
    ("# nothing\n", "# nothing", "the script has no [[rule]]"),
]


@pytest.mark.parametrize(("text", "at", "message"), BAD_SCRIPTS)
def test_bad_scripts_name_the_file_position_rule_and_field(text: str, at: str, message: str) -> None:
    with pytest.raises(SupervisorConfigError) as caught:
        scripted(text, Tools())
    offset = text.index(at)
    line = text.count("\n", 0, offset) + 1
    first = str(caught.value).splitlines()[0]
    assert first.startswith(f"rules.toml:{line}:"), first
    assert message in str(caught.value)


# -- make_supervisor ----------------------------------------------------------------------------------------

FLOW = """
[flow]
name = "t"
entry = "front"
recovery = "front"

[agents.front]
instructions = "front desk"

[supervisor]
backend = "{backend}"
model = "gpt-test"
instructions = "You are the supervisor."
tools = ["get_user_account_info", "broken_tool"]
{script}

[tools.get_user_account_info]
description = "Account info"

[tools.get_user_account_info.parameters]
type = "object"
required = ["phone_number"]
properties = {{ phone_number = {{ type = "string" }} }}

[tools.broken_tool]
description = "Always fails"

[tools.find_nearest_store]
description = "Not a supervisor tool"
"""


def flow(tmp_path: Path, backend: str, script: str | None = None) -> FlowDocument:
    text = FLOW.format(backend=backend, script=f'script = "{script}"' if script else "")
    return parse_flow(text, str(tmp_path / "flow.toml"), "toml", base_dir=tmp_path)


def test_make_supervisor_builds_the_scripted_backend_from_the_flow(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "s.toml").write_text(
        '[[rule]]\nmatch = "bill"\nanswer = "{get_user_account_info.latest_bill.amount}"\n'
        'tools = [{ name = "get_user_account_info", arguments = { phone_number = "1" } }]\n',
        encoding="utf-8",
    )
    tools = Tools()
    backend = make_supervisor(flow(tmp_path, "scripted", "rules/s.toml"), tools.registry)
    assert isinstance(backend, ScriptedSupervisor)
    assert ask(backend, request("bill")) == SupervisorAnswer("$42.17", 1, ("get_user_account_info",))
    # the flow restricts the script to the supervisor's tools (find_nearest_store is a flow tool, not its)
    (tmp_path / "rules" / "s.toml").write_text(
        '[[rule]]\nmatch = "x"\ntools = [{ name = "find_nearest_store", arguments = { zip_code = "1" } }]\n'
        'answer = "a"\n',
        encoding="utf-8",
    )
    with pytest.raises(
        SupervisorConfigError,
        match=r"s\.toml:3:.*not one of the supervisor's tools "
        r"\(broken_tool, get_user_account_info\)",
    ):
        make_supervisor(flow(tmp_path, "scripted", "rules/s.toml"), tools.registry)


def test_make_supervisor_config_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SupervisorConfigError, match=r"missing\.toml:1:1: cannot read supervisor script: no"):
        make_supervisor(flow(tmp_path, "scripted", "missing.toml"), Tools().registry)
    with pytest.raises(SupervisorConfigError, match=r"flow\.toml:\d+:\d+: the scripted supervisor needs `"):
        make_supervisor(flow(tmp_path, "scripted"), Tools().registry)
    no_supervisor = parse_flow('[flow]\nname = "t"\nentry = "a"\nrecovery = "a"\n[agents.a]\n', "bare.toml")
    with pytest.raises(SupervisorConfigError, match=r"bare\.toml:1:1: the flow has no \[supervisor\]"):
        make_supervisor(no_supervisor, Tools().registry)


def test_make_supervisor_openai_without_an_api_key_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(SupervisorConfigError, match=r"flow\.toml:\d+:\d+: cannot build the OpenAI client"):
        make_supervisor(flow(tmp_path, "openai"), Tools().registry, base_url="http://127.0.0.1:9/v1")


# -- the shipped chat_supervisor rules ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> tuple[FlowDocument, ScriptedSupervisor]:
    doc = load_flow(ROOT / "flows" / "chat_supervisor.toml")
    supervisor = doc.flow.supervisor
    assert supervisor is not None and supervisor.backend == "scripted"
    assert supervisor.script in (None, SHIPPED_SCRIPT)  # the lead points the flow at this file
    supervisor = supervisor.model_copy(update={"script": SHIPPED_SCRIPT})
    flow_ = doc.flow.model_copy(update={"supervisor": supervisor})
    doc = FlowDocument(flow_, doc.source, doc.base_dir)
    # make_supervisor checks every tool call of the rules against the flow's tool names and parameter schemas
    backend = make_supervisor(doc, ToolRegistry.from_flow(doc))
    assert isinstance(backend, ScriptedSupervisor)
    return doc, backend


@pytest.mark.parametrize(
    ("relevant", "tool", "fragments"),
    [
        (
            "Why is my bill so high? Phone (206) 135-1246",
            "get_user_account_info",
            ["$42.17", "2024-05-15", "international calls and data overage"],
        ),
        ("Why is my bill so high?", None, ["phone number"]),
        ("Nearest store to zip 94105", "find_nearest_store", ["San Francisco Downtown", "1 Market St"]),
        ("Is there a store near 10118?", "find_nearest_store", ["New York City Midtown", "350 5th Ave"]),
        ("Where is your closest store?", None, ["zip code"]),
        ("Tell me about family plans", "lookup_policy_document", ["5 lines", "[Family Plan Policy](ID-010)"]),
        ("Any promotions right now?", "lookup_policy_document", ["20% discount", "(ID-020)"]),
        ("I'm travelling abroad next week", "lookup_policy_document", ["100 countries", "(ID-030)"]),
        ("How much is the new iPhone?", "lookup_policy_document", ["$200", "(ID-040)"]),
        ("What's the weather like?", None, ["not able to help"]),
    ],
)
def test_shipped_rules_answer_from_the_real_tools(
    shipped: tuple[FlowDocument, ScriptedSupervisor], relevant: str, tool: str | None, fragments: list[str]
) -> None:
    answer = ask(shipped[1], request(relevant))
    assert answer.tool_calls == ((tool,) if tool else ())
    assert answer.tool_rounds == len(answer.tool_calls)
    for fragment in fragments:
        assert fragment in answer.text
    assert "(unknown)" not in answer.text and "(unavailable)" not in answer.text


def test_shipped_rules_use_every_supervisor_tool(shipped: tuple[FlowDocument, ScriptedSupervisor]) -> None:
    doc, backend = shipped
    assert doc.flow.supervisor is not None
    used = {call.name for rule in backend.rules for call in rule.tools}
    assert used == set(doc.flow.supervisor.tools)
    assert backend.rules[-1].match.pattern == ".*"  # a catch-all: the scripted supervisor always answers


# -- OpenAI: a Responses API stand-in on loopback ----------------------------------------------------------

Reply = Callable[[int, dict[str, Any]], tuple[int, dict[str, Any]]]


class ResponsesServer:
    """``reply(index, body) -> (status, json)`` for each POST; records path, headers and body of each."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    index = len(server.requests)
                    server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, payload = server.reply(index, body)
                data = json.dumps(payload).encode()
                with contextlib.suppress(ConnectionError):  # a cancelled client may be gone by now
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def bodies(self) -> list[dict[str, Any]]:
        return [body for _, _, body in self.requests]


@pytest.fixture
def serve() -> Iterator[Callable[[Reply], ResponsesServer]]:
    started: list[ResponsesServer] = []

    def start(reply: Reply) -> ResponsesServer:
        server = ResponsesServer(reply)
        threading.Thread(target=server.httpd.serve_forever, args=(0.02,), daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.httpd.shutdown()
        server.httpd.server_close()


def response_body(*items: dict[str, Any], status: str = "completed", error: Any = None) -> dict[str, Any]:
    body = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1_700_000_000,
        "model": "gpt-test",
        "status": status,
        "output": list(items),
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": error,
        "incomplete_details": None,
    }
    Response.model_validate(body)  # the SDK's own model accepts it
    return body


def function_call(name: str, arguments: Any, call_id: str = "call_1") -> dict[str, Any]:
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": encoded,
        "status": "completed",
    }


def message(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def openai_backend(tmp: Path, server: ResponsesServer, tools: Tools, api_key: str = "k") -> OpenAISupervisor:
    backend = make_supervisor(flow(tmp, "openai"), tools.registry, base_url=server.base_url, api_key=api_key)
    assert isinstance(backend, OpenAISupervisor)
    return backend


def run_openai(backend: OpenAISupervisor, req: EscalationRequest, rounds: int = 4) -> SupervisorAnswer:

    async def go() -> SupervisorAnswer:
        try:
            return await backend.answer(req, max_tool_rounds=rounds)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def direct(server_url: str, tools: Tools, doc: FlowDocument) -> OpenAISupervisor:
    """An OpenAISupervisor on a client that does not retry (the SDK's backoff would only slow the test)."""
    backend = make_supervisor(doc, tools.registry, base_url=server_url, api_key="sk-test")
    assert isinstance(backend, OpenAISupervisor)
    asyncio.run(backend.aclose())
    backend.client = AsyncOpenAI(base_url=server_url, api_key="sk-test", max_retries=0)
    return backend


TRANSCRIPT = (("user", "hi"), ("assistant", "Hi, you've reached NewTelco."), ("user", "why is my bill high?"))


def test_openai_function_call_round_trip(tmp_path: Path, serve: Callable[[Reply], ResponsesServer]) -> None:
    first = response_body(function_call("get_user_account_info", {"phone_number": "(206) 135-1246"}))
    second = response_body(message("Your latest bill is $42.17."))
    assert Response.model_validate(second).output_text == "Your latest bill is $42.17."
    server = serve(lambda i, _: (200, [first, second][i]))
    tools = Tools()
    backend = openai_backend(tmp_path, server, tools, api_key="sk-test")
    answer = run_openai(backend, request("bill question, phone (206) 135-1246", TRANSCRIPT, caller="Alex"))

    assert answer == SupervisorAnswer("Your latest bill is $42.17.", 1, ("get_user_account_info",))
    assert tools.calls == [("get_user_account_info", {"phone_number": "(206) 135-1246"})]
    assert [path for path, _, _ in server.requests] == ["/v1/responses", "/v1/responses"]
    assert all(headers["authorization"] == "Bearer sk-test" for _, headers, _ in server.requests)
    body1, body2 = server.bodies()
    assert body1["model"] == "gpt-test" and body1["instructions"] == "You are the supervisor."
    assert body1["tool_choice"] == "auto"
    assert body1["tools"] == [
        {
            "type": "function",
            "name": "get_user_account_info",
            "description": "Account info",
            "strict": False,
            "parameters": {
                "type": "object",
                "required": ["phone_number"],
                "properties": {"phone_number": {"type": "string"}},
            },
        },
        {
            "type": "function",
            "name": "broken_tool",
            "description": "Always fails",
            "strict": False,
            "parameters": {"type": "object", "properties": {}},
        },
    ]
    assert body1["input"][:3] == [{"role": role, "content": text} for role, text in TRANSCRIPT]
    final = body1["input"][3]
    assert final["role"] == "user" and len(body1["input"]) == 4
    assert "bill question, phone (206) 135-1246" in final["content"]
    assert '{"caller": "Alex"}' in final["content"]
    # the second request carries the function call and its output, computed by the real tool
    assert body2["input"][:4] == body1["input"]
    call, output = body2["input"][4:]
    assert call == {
        "type": "function_call",
        "call_id": "call_1",
        "name": "get_user_account_info",
        "arguments": '{"phone_number": "(206) 135-1246"}',
    }
    assert output["type"] == "function_call_output" and output["call_id"] == "call_1"
    assert json.loads(output["output"]) == ACCOUNT


def test_openai_tool_problems_become_error_outputs(
    tmp_path: Path, serve: Callable[[Reply], ResponsesServer]
) -> None:
    calls = [
        function_call("broken_tool", {}, "c1"),
        function_call("transfer_money", {}, "c2"),
        function_call("get_user_account_info", "{not json", "c3"),
    ]
    server = serve(lambda i, _: (200, response_body(*calls) if i == 0 else response_body(message("Sorry."))))
    tools = Tools()
    backend = openai_backend(tmp_path, server, tools)
    answer = run_openai(backend, request("x"))
    assert answer == SupervisorAnswer(
        "Sorry.",
        1,
        ("broken_tool", "transfer_money", "get_user_account_info"),
        ("broken_tool: RuntimeError: db down",),  # for the audit record only
    )
    assert tools.calls == [("broken_tool", {})]  # the unknown tool, the bad arguments: no function runs
    outputs = {
        item["call_id"]: json.loads(item["output"])
        for item in server.bodies()[1]["input"]
        if item.get("type") == "function_call_output"
    }
    assert outputs == {
        "c1": {"error": "the tool failed"},  # never the exception text
        "c2": {"error": "unknown tool 'transfer_money'"},
        "c3": {"error": "arguments are not valid JSON: Expecting property name enclosed in double quotes"},
    }


@pytest.mark.parametrize(("obeys_tool_choice", "rounds"), [(True, 2), (False, 2), (True, 0)])
def test_openai_max_tool_rounds_is_honoured(
    tmp_path: Path, serve: Callable[[Reply], ResponsesServer], obeys_tool_choice: bool, rounds: int
) -> None:
    def reply(i: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if obeys_tool_choice and body.get("tool_choice") == "none":
            return 200, response_body(message("Done."))
        return 200, response_body(function_call("get_user_account_info", {"phone_number": "1"}, f"call_{i}"))

    server = serve(reply)
    tools = Tools()
    backend = openai_backend(tmp_path, server, tools)
    if obeys_tool_choice:
        answer = run_openai(backend, request("x"), rounds)
        assert answer == SupervisorAnswer("Done.", rounds, ("get_user_account_info",) * rounds)
    else:
        with pytest.raises(SupervisorFailure, match=rf"'gpt-test' still asks for tools after {rounds} round"):
            run_openai(backend, request("x"), rounds)
    bodies = server.bodies()
    assert [b["tool_choice"] for b in bodies] == ["auto"] * rounds + ["none"]  # at most rounds + 1 requests
    assert len(tools.calls) == rounds
    assert sum(item.get("type") == "function_call_output" for item in bodies[-1]["input"]) == rounds


@pytest.mark.parametrize(("status", "name"), [(500, "Internal Server Error"), (401, "Unauthorized")])
def test_openai_http_errors_become_supervisor_failures(
    tmp_path: Path, serve: Callable[[Reply], ResponsesServer], status: int, name: str
) -> None:
    error = {"error": {"message": f"{name} from the stand-in", "type": "server_error", "code": None}}
    server = serve(lambda i, _: (status, error))
    backend = direct(server.base_url, Tools(), flow(tmp_path, "openai"))
    with pytest.raises(SupervisorFailure) as caught:
        run_openai(backend, request("x"))
    message_ = str(caught.value)
    assert f"HTTP {status} from POST {server.base_url}/responses" in message_
    assert f"{name} from the stand-in" in message_
    assert len(server.requests) == 1


def test_openai_401_is_not_retried_by_the_default_client(
    tmp_path: Path, serve: Callable[[Reply], ResponsesServer]
) -> None:
    error = {"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}
    server = serve(lambda i, _: (401, error))
    backend = openai_backend(tmp_path, server, Tools(), api_key="bad")
    with pytest.raises(SupervisorFailure, match=r"HTTP 401 .*Incorrect API key"):
        run_openai(backend, request("x"))
    assert len(server.requests) == 1


def test_openai_failed_response_and_empty_text_are_failures(
    tmp_path: Path, serve: Callable[[Reply], ResponsesServer]
) -> None:
    failed = response_body(status="failed", error={"code": "server_error", "message": "the model crashed"})
    server = serve(lambda i, _: (200, failed if i == 0 else response_body()))
    with pytest.raises(SupervisorFailure, match="'gpt-test' failed: server_error: the model crashed"):
        run_openai(openai_backend(tmp_path, server, Tools()), request("x"))
    with pytest.raises(SupervisorFailure, match="'gpt-test' returned no text"):
        run_openai(openai_backend(tmp_path, server, Tools()), request("x"))


def test_openai_unreachable_server_names_the_url(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/v1"
    backend = direct(url, Tools(), flow(tmp_path, "openai"))
    with pytest.raises(SupervisorFailure, match=rf"cannot reach the supervisor model at {url}/responses"):
        run_openai(backend, request("x"))


def test_openai_answer_is_cancellable_by_the_caller_timeout(
    tmp_path: Path, serve: Callable[[Reply], ResponsesServer]
) -> None:
    release = threading.Event()

    def slow(i: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        release.wait(5)  # the stand-in holds the request until the test is over
        return 200, response_body(message("too late"))

    server = serve(slow)
    backend = openai_backend(tmp_path, server, Tools())

    async def go() -> float:
        started = time.perf_counter()
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(backend.answer(request("x"), max_tool_rounds=1), 0.2)
            return time.perf_counter() - started
        finally:
            await backend.aclose()

    try:
        elapsed = asyncio.run(go())
    finally:
        release.set()
    assert 0.19 <= elapsed < 3.0
    assert len(server.requests) == 1
