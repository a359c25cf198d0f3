"""Names in a flow, and what the Realtime API lets them become.

Tool names are Realtime function names, and every agent name becomes one (``transfer_to_<agent>``): the API
wants ``^[a-zA-Z0-9_-]{1,64}$``. So a name is a letter, then letters, digits, ``_`` or ``-`` (kebab-case
such as ``human-agent`` is fine); an agent name is at most 52 characters, so that ``transfer_to_`` + it
fits in 64; a tool or flow name at most 64. Context keys stay identifiers.

Where a name must be an identifier (a python-statemachine state attribute, a Mermaid node id),
:func:`identifier` maps it there one-to-one.
"""

from __future__ import annotations

TRANSFER_PREFIX = "transfer_to_"
FUNCTION_NAME_MAX = 64
"""The longest function name the Realtime API takes."""
AGENT_NAME_MAX = FUNCTION_NAME_MAX - len(TRANSFER_PREFIX)

AGENT_NAME_PATTERN = rf"^[A-Za-z][A-Za-z0-9_-]{{0,{AGENT_NAME_MAX - 1}}}$"
TOOL_NAME_PATTERN = rf"^[A-Za-z][A-Za-z0-9_-]{{0,{FUNCTION_NAME_MAX - 1}}}$"
KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


def identifier(name: str) -> str:
    """``name`` as a Python identifier, one-to-one: a name without ``-`` is itself; one with ``-`` becomes
    ``_`` + the name with ``_`` doubled and ``-`` as ``_0`` (``human-agent`` -> ``_human_0agent``), which
    no name (they start with a letter) and no other name's image can be."""
    if "-" not in name:
        return name
    return "_" + name.replace("_", "__").replace("-", "_0")
