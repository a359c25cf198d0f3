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
    metadata: dict[str, Any] | None = None
    output: list[dict[str, Any]] = []


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
    item_id: str = ""


class TextDone(_Event):
    type: Literal["response.output_text.done"]
    text: str
    response_id: str = ""


class AudioTranscriptDone(_Event):
    type: Literal["response.output_audio_transcript.done"]
    transcript: str
    response_id: str = ""


class InputTranscription(_Event):
    type: Literal["conversation.item.input_audio_transcription.completed"]
    item_id: str
    transcript: str


class ItemRef(_Event):
    id: str
    type: str


class ItemAdded(_Event):
    """``conversation.item.added`` or ``conversation.item.done``: an item joined (or finished in) the
    conversation."""

    type: Literal["conversation.item.added", "conversation.item.done"]
    item: ItemRef


class ItemDeleted(_Event):
    type: Literal["conversation.item.deleted"]
    item_id: str


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
    | ItemAdded
    | ItemDeleted
    | SpeechStarted
    | ErrorEvent,
    Field(discriminator="type"),
]
_adapter: TypeAdapter[Any] = TypeAdapter(ServerEvent)
HANDLED = frozenset(
    kind
    for m in (
        ResponseCreated,
        ResponseDone,
        FunctionCallDone,
        TextDone,
        AudioTranscriptDone,
        InputTranscription,
        ItemAdded,
        ItemDeleted,
        SpeechStarted,
        ErrorEvent,
    )
    for kind in m.model_fields["type"].annotation.__args__  # type: ignore[union-attr]
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
