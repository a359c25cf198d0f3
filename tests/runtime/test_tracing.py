"""OpenTelemetry spans, checked with the SDK's in-memory exporter: one trace per conversation (the client's
``traceparent`` honoured, kept across a resume), the handoff and tool spans' attributes, the escalation's
span a child of its turn and the supervisor's HTTP call a child of the escalation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from websockets.asyncio.client import connect

from engine import tracing
from engine.compile.pipeline import compile_flow
from engine.emulator.script import Script
from engine.emulator.server import Emulator
from engine.runtime.relay import Relay
from engine.session import MemorySink
from engine.store import open_store
from engine.supervisor.openai import OpenAISupervisor
from tests.realtime_schema import run
from tests.runtime.relay_helpers import ask, desk, next_event
from tests.runtime.test_relay_resume import RESUME_SCRIPT, resume_url, to_billing
from tests.supervisor.test_supervisor_backends import ResponsesServer, message, response_body

EXPORTER = InMemorySpanExporter()


@pytest.fixture(autouse=True)
def spans() -> Iterator[InMemorySpanExporter]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)
    EXPORTER.clear()
    yield EXPORTER
    EXPORTER.clear()


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{CLIENT_TRACE}-b7ad6b7169203331-01"


def test_a_relayed_conversation_is_one_trace_under_the_client_s_traceparent(
    spans: InMemorySpanExporter,
) -> None:
    async def main() -> str:
        async with Emulator(Script.parse(RESUME_SCRIPT, "s")) as emulator:
            async with Relay(desk(), emulator.url, audit=MemorySink()) as relay:
                async with connect(relay.url, additional_headers={"traceparent": TRACEPARENT}) as ws:
                    conversation_id = await to_billing(ws)
                    assert await ask(ws, "again") == "Still billing."
                await relay.until_ended(conversation_id)
                return conversation_id

    conversation_id = run(main())
    finished = spans.get_finished_spans()
    assert {format(s.context.trace_id, "032x") for s in finished} == {CLIENT_TRACE}
    (root,) = named(finished, "switchboard.conversation")
    assert root.attributes is not None and root.attributes["gen_ai.conversation.id"] == conversation_id
    assert root.parent is not None and format(root.parent.span_id, "016x") == "b7ad6b7169203331"
    turns = named(finished, "switchboard.turn")
    assert len(turns) == 2 and all(
        t.parent is not None and t.parent.span_id == root.context.span_id for t in turns
    )
    assert [t.attributes["gen_ai.agent.name"] for t in turns if t.attributes] == ["billing", "billing"]
    (handoff,) = named(finished, "switchboard.handoff")
    assert handoff.parent is not None and handoff.parent.span_id == turns[0].context.span_id
    assert (
        dict(handoff.attributes or {}).items()
        >= {
            "switchboard.handoff.from": "front",
            "switchboard.handoff.to": "billing",
            "switchboard.handoff.outcome": "done",
            "switchboard.handoff.reason": "billing",
            "switchboard.handoff.history": "keep",
        }.items()
    )


def test_a_resumed_conversation_continues_its_trace(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    async def main() -> None:
        store = open_store(f"sqlite:{tmp_path / 'c.db'}")
        async with Emulator(Script.parse(RESUME_SCRIPT, "s")) as emulator:
            async with Relay(desk(), emulator.url, audit=MemorySink(), store=store) as a:
                async with Relay(desk(), emulator.url, audit=MemorySink(), store=store) as b:
                    ws = await connect(a.url)  # no traceparent: the relay starts the trace
                    conversation_id = await to_billing(ws)
                    ws.transport.abort()
                    await a.until_ended(conversation_id)
                    async with connect(resume_url(b.url, conversation_id)) as again:
                        await next_event(again, "session.updated")
                        assert await ask(again, "again") == "Still billing."
                    await b.until_ended(conversation_id)
        await store.close()

    run(main())
    first, second = sorted(
        named(spans.get_finished_spans(), "switchboard.conversation"), key=lambda s: s.start_time or 0
    )
    assert first.context.trace_id == second.context.trace_id  # one trace per call, across the resume
    assert second.parent is not None and second.parent.span_id == first.context.span_id
    assert second.attributes is not None and second.attributes["switchboard.resumed"] is True


def test_an_escalation_span_holds_the_supervisor_s_http_call(spans: InMemorySpanExporter) -> None:
    compiled = compile_flow("flows/chat_supervisor.toml")
    script = Path("flows/scripts/chat_supervisor.toml").read_text()
    server = ResponsesServer(lambda i, body: (200, response_body(message("Your last bill was $42.17."))))
    import threading

    threading.Thread(target=server.httpd.serve_forever, args=(0.02,), daemon=True).start()

    async def main() -> list[str]:
        async with Emulator(Script.parse(script, "chat")) as emulator:
            relay = Relay(compiled, emulator.url, audit=MemorySink())
            client = AsyncOpenAI(base_url=server.base_url, api_key="test")
            relay.supervisor = OpenAISupervisor(
                client, model="gpt-test", instructions="Answer.", tools=[], registry=relay.tools
            )
            said: list[str] = []
            async with relay, connect(relay.url) as ws:
                await next_event(ws, "session.created")
                said.append(await ask(ws, "What was my last bill? My number is (206) 135-1246."))
                said.append(json.dumps(await next_event(ws, "response.output_text.done")))
            await client.close()
            return said

    try:
        run(main())
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    finished = spans.get_finished_spans()
    (escalation,) = named(finished, "switchboard.escalation")
    (turn,) = named(finished, "switchboard.turn")
    (chat,) = named(finished, "chat gpt-test")
    assert escalation.parent is not None and escalation.parent.span_id == turn.context.span_id
    assert chat.parent is not None and chat.parent.span_id == escalation.context.span_id
    assert chat.kind is trace.SpanKind.CLIENT
    attributes: dict[str, Any] = dict(chat.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat" and attributes["gen_ai.request.model"] == "gpt-test"
    assert (escalation.attributes or {})["switchboard.escalation.outcome"] == "answered"
    assert len({s.context.trace_id for s in finished}) == 1


def test_without_a_provider_nothing_is_traced_and_nothing_breaks() -> None:
    assert tracing.context_from_traceparent("not a traceparent") is None
    assert tracing.context_from_traceparent(None) is None


def test_a_tool_call_is_an_execute_tool_span_of_its_turn(spans: InMemorySpanExporter) -> None:
    from engine.compile.pipeline import compile_document
    from engine.flow.loader import parse_flow
    from tests.runtime import test_relay

    async def main() -> None:
        compiled = compile_document(parse_flow(test_relay.FLOW, "desk.toml"))
        async with Emulator(Script.parse(test_relay.SCRIPT, "s")) as emulator:
            async with Relay(compiled, emulator.url, audit=MemorySink()) as relay:
                async with connect(relay.url) as ws:
                    conversation_id = (
                        ws.response.headers["X-Switchboard-Conversation-Id"] if ws.response else ""
                    )
                    assert await ask(ws, "login please") == "Billing here, how can I help?"
                await relay.until_ended(conversation_id)

    run(main())
    finished = spans.get_finished_spans()
    (tool,) = named(finished, "execute_tool login")
    (turn,) = named(finished, "switchboard.turn")
    assert tool.parent is not None and tool.parent.span_id == turn.context.span_id
    assert (
        dict(tool.attributes or {}).items()
        >= {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "login",
            "switchboard.tool.outcome": "ok",
            "gen_ai.agent.name": "front",
        }.items()
    )
    assert tool.end_time is not None and tool.start_time is not None and tool.end_time >= tool.start_time
