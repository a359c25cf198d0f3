"""``switchboard init NAME``: a new flow folder that lints, renders, runs and passes its tests at once.

It holds a flow (an entry agent that verifies the caller with a tool, one specialist that requires the
verified id, a recovery agent), the entry's prompt file, the tools module beside the flow, a script with
expectations, and the suite generated from the graph (``tests/generated/``).
"""

from __future__ import annotations

import re
from pathlib import Path

from engine.errors import SwitchboardError

__all__ = ["NAME_PATTERN", "ScaffoldError", "scaffold"]

NAME_PATTERN = r"[a-z][a-z0-9_]{0,39}"
"""A flow folder name: also the flow's name and its tools module's prefix (a Python identifier)."""


class ScaffoldError(SwitchboardError):
    """The name is not usable, or the folder already exists."""


FLOW = """\
# {name}: made by `switchboard init`. Edit the agents, then `switchboard lint`, `render` and `test`.

[flow]
name = "{name}"
description = "Verify the caller, then hand them to the specialist; anything else goes to recovery."
entry = "front"
recovery = "recovery"
max_handoff_depth = 4

[agents.front]
description = "Greets the caller, verifies their account and routes them to the specialist."
instructions_file = "prompts/front.md"
tools = ["verify_caller"]
produces = ["caller_id"]
handoffs = ["specialist"]
max_visits = 2

[agents.specialist]
description = "Helps a verified caller with their request."
instructions = "You help verified callers with their request. Send them back to the front desk if they need to be verified again."
requires = ["caller_id"]
handoffs = ["front"]
max_visits = 2
terminal = true

[agents.recovery]
description = "Apologises for anything out of scope and hands back to the front desk, or ends the call."
instructions = "Apologise briefly, then offer to send the caller back to the front desk."
handoffs = ["front"]
max_visits = 2
terminal = true

[tools.verify_caller]
description = "Verify the caller by their six-digit account number."
sets = ["caller_id"]
impl = "{name}_tools:verify_caller"

[tools.verify_caller.parameters]
type = "object"
required = ["account_number"]
additionalProperties = false
properties = {{ account_number = {{ type = "string", pattern = "^[0-9]{{6}}$", description = "The six-digit account number." }} }}
# arguments that work: `switchboard test --generate` calls the tool with them
examples = [{{ account_number = "123456" }}]

[[handoff]]
from = "front"
to = "specialist"
when = "the caller is verified and has a request"
carry = ["caller_id"]
history = "reset"

[[handoff]]
from = "specialist"
to = "front"
when = "the caller needs to be verified again"
carry = ["caller_id"]
"""

PROMPT = """\
You are the front desk of {name}. Greet the caller and ask for their six-digit account number.
Once you have it, call `verify_caller`; when the caller is verified, transfer them to the specialist.
"""

TOOLS = '''\
"""The tools of the {name} flow (`impl = "{name}_tools:FUNCTION"`): replace the bodies with your own."""

from __future__ import annotations


def verify_caller(*, account_number: str) -> dict[str, object]:
    """Look the caller up. The result's `caller_id` is what the flow then trusts (the tool `sets` it)."""
    return {{"verified": True, "caller_id": f"caller-{{account_number}}"}}
'''

SCRIPT = """\
# A conversation with expectations: `switchboard test {name}/tests` runs it against the emulator.
flow = "../{name}.toml"

[[turn]]
user = "Hi, I need help with my order."
expect = {{ agent = "front", handoff = "refused", tool = "transfer_to_specialist" }}   # not verified yet

[[turn]]
user = "My account number is 123456."
expect = {{ agent = "specialist", handoff = "done", tool = ["verify_caller", "transfer_to_specialist"], carried = ["caller_id"] }}

[[turn]]
user = "Thanks, that's all."
expect = {{ agent = "specialist", says = "(?i)goodbye" }}

[expect]
agent = "specialist"
depth = 1
outcomes = {{ done = 1, refused = 1 }}
context = {{ set = ["caller_id"] }}

# the emulator's "model": the first rule that matches answers
[[rule]]
agent = "front"
user = "(?i)order"
call = "transfer_to_specialist"
arguments = {{ reason = "the caller needs help with an order" }}

[[rule]]
agent = "front"
after = "transfer_to_specialist"
say = "Before I transfer you, could you give me your six-digit account number?"

[[rule]]
agent = "front"
user = "(?i)account number is (\\\\d{{6}})"
call = "verify_caller"
arguments = {{ account_number = "123456" }}

[[rule]]
agent = "front"
after = "verify_caller"
call = "transfer_to_specialist"
arguments = {{ reason = "verified caller with an order question" }}

[[rule]]
agent = "specialist"
after = "transfer_to_specialist"
say = "Hello, I'm the specialist. How can I help with your order?"

[[rule]]
agent = "specialist"
user = "(?i)that's all"
say = "You're welcome, goodbye!"
"""


def scaffold(name: str, parent: Path) -> list[Path]:
    """Write the ``name`` folder under ``parent`` (not the generated suite); return the files written."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise ScaffoldError(
            f"{name!r} is not a flow name: a lowercase letter, then lowercase letters, digits or _"
        )
    root = parent / name
    if root.exists():
        raise ScaffoldError(f"{root} already exists: choose another name or remove it")
    files = {
        root / f"{name}.toml": FLOW.format(name=name),
        root / "prompts" / "front.md": PROMPT.format(name=name),
        root / f"{name}_tools.py": TOOLS.format(name=name),
        root / "tests" / f"{name}.toml": SCRIPT.format(name=name),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)
