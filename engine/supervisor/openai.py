"""The OpenAI supervisor: a text model over the Responses API that loops over the flow's tools.

Each round posts the whole input (stateless: no ``previous_response_id``): the transcript as role/content
messages, a final user message with the relevant context and the context snapshot as JSON, then every
``function_call`` so far with its ``function_call_output``. After ``max_tool_rounds`` rounds the model is
asked once more with ``tool_choice = "none"``, so at most ``max_tool_rounds + 1`` requests are made.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Literal

from openai import APIConnectionError, APIStatusError, AsyncOpenAI, OpenAIError, omit
from openai.types.responses import (
    FunctionToolParam,
    Response,
    ResponseFunctionToolCall,
    ResponseInputItemParam,
)

from engine import tracing
from engine.flow.model import Supervisor, Tool
from engine.session.actions import EscalationRequest
from engine.supervisor.backend import SupervisorAnswer, SupervisorFailure, ToolCaller

__all__ = ["OpenAISupervisor", "function_tool"]


def function_tool(name: str, tool: Tool) -> FunctionToolParam:
    """The Responses API definition of flow tool ``name``."""
    return {
        "type": "function",
        "name": name,
        "description": tool.description,
        "parameters": tool.parameters,
        "strict": False,
    }


def request_input(request: EscalationRequest) -> list[ResponseInputItemParam]:
    """The transcript as messages, then the escalation itself as a final user message."""
    items: list[ResponseInputItemParam] = [
        {"role": "assistant" if role == "assistant" else "user", "content": text}
        for role, text in request.transcript
    ]
    snapshot = json.dumps(request.context, ensure_ascii=False, sort_keys=True, default=str)
    items.append(
        {
            "role": "user",
            "content": (
                f"Relevant context from the last user message:\n{request.relevant_context}\n\n"
                f"Conversation context (JSON):\n{snapshot}"
            ),
        }
    )
    return items


class OpenAISupervisor:
    """Answers escalations with ``model`` over ``client``'s Responses API; tools run through ``registry``."""

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        model: str,
        instructions: str,
        tools: Sequence[FunctionToolParam],
        registry: ToolCaller,
    ) -> None:
        self.client = client
        self.model = model
        self.instructions = instructions
        self.tools = list(tools)
        self.registry = registry

    @classmethod
    def create(
        cls,
        supervisor: Supervisor,
        flow_tools: Mapping[str, Tool],
        registry: ToolCaller,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
    ) -> OpenAISupervisor:
        """From a flow's ``[supervisor]``; ``base_url``/``api_key`` default to the SDK's (``OPENAI_*``)."""
        try:
            client = AsyncOpenAI(base_url=base_url, api_key=api_key)
        except OpenAIError as exc:
            raise SupervisorFailure(f"cannot build the OpenAI client: {exc}") from None
        tools = [function_tool(name, flow_tools[name]) for name in supervisor.tools if name in flow_tools]
        return cls(
            client,
            model=supervisor.model,
            instructions=supervisor.instructions,
            tools=tools,
            registry=registry,
        )

    async def aclose(self) -> None:
        await self.client.close()

    async def answer(self, request: EscalationRequest, *, max_tool_rounds: int) -> SupervisorAnswer:
        inputs = request_input(request)
        rounds, names, errors = 0, list[str](), list[str]()
        while True:
            response = await self._create(inputs, "auto" if rounds < max_tool_rounds else "none")
            calls = [item for item in response.output if isinstance(item, ResponseFunctionToolCall)]
            if not calls or rounds >= max_tool_rounds:
                break
            outputs = await asyncio.gather(*(self._run(call, errors) for call in calls))
            for call, output in zip(calls, outputs, strict=True):
                inputs.append(
                    {
                        "type": "function_call",
                        "call_id": call.call_id,
                        "name": call.name,
                        "arguments": call.arguments,
                    }
                )
                inputs.append({"type": "function_call_output", "call_id": call.call_id, "output": output})
            names += [call.name for call in calls]
            rounds += 1
        text = response.output_text
        if not text.strip():
            why = f"still asks for tools after {rounds} round(s)" if calls else "returned no text"
            raise SupervisorFailure(f"the supervisor model {self.model!r} {why}")
        return SupervisorAnswer(text, rounds, tuple(names), tuple(errors))

    async def _create(
        self, inputs: list[ResponseInputItemParam], choice: Literal["auto", "none"]
    ) -> Response:
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": self.model,
            "server.address": self.client.base_url.host,
        }
        with tracing.span(f"chat {self.model}", attributes, kind="CLIENT"):  # the supervisor's HTTP call
            return await self._request(inputs, choice)

    async def _request(
        self, inputs: list[ResponseInputItemParam], choice: Literal["auto", "none"]
    ) -> Response:
        try:
            response = await self.client.responses.create(
                model=self.model,
                instructions=self.instructions or omit,
                input=inputs,
                tools=self.tools or omit,
                tool_choice=choice if self.tools else omit,
            )
        except APIStatusError as exc:
            raise SupervisorFailure(
                f"the supervisor model request failed: HTTP {exc.status_code} from "
                f"{exc.request.method} {exc.request.url}: {exc.message}"
            ) from exc
        except APIConnectionError as exc:
            where = exc.request.url
            raise SupervisorFailure(f"cannot reach the supervisor model at {where}: {exc.message}") from exc
        except OpenAIError as exc:
            raise SupervisorFailure(f"the supervisor model request failed: {exc}") from exc
        if response.status == "failed" or response.error is not None:
            error = response.error
            why = f"{error.code}: {error.message}" if error is not None else "status 'failed'"
            raise SupervisorFailure(f"the supervisor model {self.model!r} failed: {why}")
        return response

    async def _run(self, call: ResponseFunctionToolCall, errors: list[str]) -> str:
        """One function call's output, as JSON; every problem becomes ``{"error": ...}`` for the model. A tool
        that raises is ``the tool failed`` to the model; its exception goes to ``errors`` (the audit)."""
        if call.name not in {tool["name"] for tool in self.tools}:
            return json.dumps({"error": f"unknown tool '{call.name}'"})
        try:
            arguments = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as exc:
            return json.dumps({"error": f"arguments are not valid JSON: {exc.msg}"})
        if not isinstance(arguments, dict):
            return json.dumps({"error": "arguments must be a JSON object"})
        try:
            result = await self.registry.call(call.name, arguments)
        except Exception as exc:  # a tool error is the model's to handle, not the escalation's end
            errors.append(f"{call.name}: {type(exc).__name__}: {exc}")
            return json.dumps({"error": "the tool failed"})
        return json.dumps(result, ensure_ascii=False, default=str)
