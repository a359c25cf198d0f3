"""The server events the core acts on, validated with pydantic: a bad event names its type and field."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from engine.session.actions import ProtocolProblem


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow")


class ResponseRef(_Event):
    id: str
    status: str = "in_progress"


class ResponseCreated(_Event):
    type: Literal["response.created"]
    response: ResponseRef


class ResponseDone(_Event):
    type: Literal["response.done"]
    response: ResponseRef


class FunctionCallDone(_Event):
    type: Literal["response.function_call_arguments.done"]
    call_id: str
    name: str
    arguments: str
    response_id: str = ""


class TextDone(_Event):
    type: Literal["response.output_text.done"]
    text: str


class AudioTranscriptDone(_Event):
    type: Literal["response.output_audio_transcript.done"]
    transcript: str


class InputTranscription(_Event):
    type: Literal["conversation.item.input_audio_transcription.completed"]
    item_id: str
    transcript: str


class SpeechStarted(_Event):
    type: Literal["input_audio_buffer.speech_started"]


class ErrorDetail(_Event):
    message: str
    type: str = ""
    code: str | None = None
    event_id: str | None = None


class ErrorEvent(_Event):
    type: Literal["error"]
    error: ErrorDetail


ServerEvent = Annotated[
    ResponseCreated
    | ResponseDone
    | FunctionCallDone
    | TextDone
    | AudioTranscriptDone
    | InputTranscription
    | SpeechStarted
    | ErrorEvent,
    Field(discriminator="type"),
]
_adapter: TypeAdapter[Any] = TypeAdapter(ServerEvent)
HANDLED = frozenset(
    m.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
    for m in (
        ResponseCreated,
        ResponseDone,
        FunctionCallDone,
        TextDone,
        AudioTranscriptDone,
        InputTranscription,
        SpeechStarted,
        ErrorEvent,
    )
)


def parse_server_event(event: Any) -> BaseModel | ProtocolProblem | None:
    """The typed event, a :class:`ProtocolProblem` naming the bad field, or ``None`` for events the core ignores."""
    if not isinstance(event, dict):
        return ProtocolProblem("?", "", f"expected a JSON object, got {type(event).__name__}")
    kind = event.get("type")
    if not isinstance(kind, str):
        return ProtocolProblem("?", "type", "missing or not a string")
    if kind not in HANDLED:
        return None
    try:
        parsed: BaseModel = _adapter.validate_python(event)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "type"
        return ProtocolProblem(kind, where, first["msg"])
    return parsed
