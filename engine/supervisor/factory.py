"""Build the supervisor backend a flow's ``[supervisor]`` table names."""

from __future__ import annotations

from engine.flow.diagnostics import Location
from engine.flow.document import error
from engine.flow.loader import FlowDocument
from engine.supervisor.backend import SupervisorBackend, SupervisorConfigError, SupervisorFailure, ToolCaller
from engine.supervisor.scripted import ScriptedSupervisor


def _config_error(message: str, where: Location) -> SupervisorConfigError:
    return SupervisorConfigError([error("SB401", "supervisor-config", message, where)])


def make_supervisor(
    doc: FlowDocument, tools: ToolCaller, *, base_url: str | None = None, api_key: str | None = None
) -> SupervisorBackend:
    """The backend of ``doc``'s ``[supervisor]``; ``base_url``/``api_key`` only matter for ``openai``.

    Raises :class:`SupervisorConfigError` when the flow has no supervisor, the scripted backend's rules file
    is missing or invalid, or the OpenAI client cannot be built (no API key).
    """
    supervisor = doc.flow.supervisor
    if supervisor is None:
        raise _config_error("the flow has no [supervisor] table", Location(doc.file))
    schemas = {name: doc.flow.tools[name].parameters for name in supervisor.tools if name in doc.flow.tools}
    if supervisor.backend == "scripted":
        if not supervisor.script:
            where = doc.source.locate(("supervisor", "backend"))
            raise _config_error("the scripted supervisor needs `script` (its rules file)", where)
        return ScriptedSupervisor.load(supervisor.script, tools, root=doc.base_dir, tool_schemas=schemas)
    from engine.supervisor.openai import OpenAISupervisor  # imports the SDK: only when used

    try:
        return OpenAISupervisor.create(supervisor, doc.flow.tools, tools, base_url=base_url, api_key=api_key)
    except SupervisorFailure as exc:
        raise _config_error(str(exc), doc.source.locate(("supervisor", "backend"))) from None
