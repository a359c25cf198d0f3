"""What each rule means, for ``switchboard rule CODE``: why it matters, a flow that triggers it, and the fix.

The catalogue (:data:`engine.verify.rules.RULES`) says what a rule is; this says why, with an example. Each
example is a whole flow (except SB000 and SB001, which no flow text shows), and the tests lint every one
and check that it triggers its rule and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Explanation:
    why: str
    """Why the rule exists: what goes wrong at run time without it."""
    example: str
    """A small flow (TOML) that triggers the rule."""
    fix: str
    """How to make the finding go away (the ``help:`` lines are instances of this)."""
    flow: str = ""
    """For a script rule (SB7xx): the flow (``flow.toml``) the example script is checked against."""


_HEAD = """\
[flow]
name = "desk"
entry = "front"
recovery = "helper"
"""
_HELPER = """
[agents.helper]
terminal = true
"""


def _flow(body: str, settings: str = "") -> str:
    """A whole flow: the ``[flow]`` table (plus ``settings``), ``body``, and a terminal recovery agent."""
    return _HEAD + settings + "\n" + body.strip("\n") + "\n" + _HELPER


_SCRIPT_FLOW = _flow('[agents.front]\nhandoffs = ["helper"]\n')
"""The flow (agents ``front`` and ``helper``, no tools) the script examples are checked against."""


def _script(body: str) -> str:
    return 'flow = "flow.toml"\n\n' + body.strip("\n") + "\n"


NESTING = 70
"""How deep SB006's example nests (the loader's limit is 64)."""

EXPLANATIONS: dict[str, Explanation] = {
    "SB000": Explanation(
        why="Lint itself raised an exception on this file. The file is reported, not skipped, so one bug "
        "of ours never hides the findings of the other files, and the run fails rather than passing blind.",
        example="switchboard lint flows/   # any flow that makes the linter crash",
        fix="Report it with the flow that triggers it; meanwhile `run` would likely fail the same way.",
    ),
    "SB001": Explanation(
        why="Nothing can be checked, compiled or run from a file that cannot be read. `lint` exits 2 "
        "(usage error) for it, so a CI job with a wrong path fails instead of passing with nothing linted.",
        example="switchboard lint flows/retail.yaml   # not .toml/.json (or missing, or not UTF-8)",
        fix="Check the path and permissions; name flows `*.toml` or `*.json`, encoded as UTF-8.",
    ),
    "SB002": Explanation(
        why="A file the TOML/JSON parser rejects cannot be loaded at all; lint reports the parser's own "
        "line and column instead of a traceback at start-up.",
        example=_flow('[agents.front]\nhandoffs = ["helper"\n'),
        fix="Fix the syntax at the position shown: an unclosed string, bracket or table header, a missing "
        "`=` or `,`.",
    ),
    "SB003": Explanation(
        why="The flow format is strict: an unknown key is almost always a typo, and silently ignoring it "
        "would run a flow that quietly lacks what you wrote (`handoff = [...]` would leave the agent "
        "without handoffs). Wrong types and names that cannot become tool names fail the same way.",
        example=_flow('[agents.front]\nhandoff = ["helper"]\n'),
        fix="Use the key, type or name the message asks for; unknown keys come with a did-you-mean.",
    ),
    "SB004": Explanation(
        why="An agent whose prompt file is missing would start with no instructions at all and talk to "
        "callers without knowing its job.",
        example=_flow('[agents.front]\ninstructions_file = "prompts/front.md"\nhandoffs = ["helper"]\n'),
        fix="Create the file, or fix the path: it is relative to the flow file's folder.",
    ),
    "SB005": Explanation(
        why="A flow names companion files (prompts, scripts) by path, and a flow may come from someone "
        "else. Reading outside the flow's folder (absolute paths, `..`, symlinks out) would let a flow "
        "pull any file on the machine into a prompt sent to a model; a FIFO or device would block or never "
        "end; a huge or non-UTF-8 file is not a prompt.",
        example=_flow('[agents.front]\ninstructions_file = "../shared/front.md"\nhandoffs = ["helper"]\n'),
        fix="Keep companion files inside the flow's folder (a `prompts/` folder beside it), as regular "
        "UTF-8 files of at most 1 MiB.",
    ),
    "SB006": Explanation(
        why="The TOML and JSON parsers recurse once per nesting level and crash a few hundred levels "
        "down; the loader refuses anything deeper than its limit, at the position where it goes too "
        "deep, before parsing. No real flow nests that deep.",
        example=_flow(
            '[agents.front]\ntools = ["lookup"]\nhandoffs = ["helper"]\n\n[tools.lookup]\n'
            f'parameters = {{ type = "object", examples = {"[" * NESTING}{"]" * NESTING} }}\n'
        ),
        fix="Flatten the data at the position shown.",
    ),
    "SB101": Explanation(
        why="Each handoff becomes a `transfer_to_<agent>` tool and a transition of the state machine; a "
        "handoff to an agent that does not exist has nowhere to go, so the flow cannot compile.",
        example=_flow('[agents.front]\nhandoffs = ["helper", "billing"]\n'),
        fix="Fix the spelling (the message suggests the agent meant), or define `[agents.billing]`.",
    ),
    "SB102": Explanation(
        why="An agent's tools are sent to the model in its `session.update`; a tool with no definition has "
        "no description or parameters to send and nothing to run when the model calls it.",
        example=_flow('[agents.front]\ntools = ["lookup_order"]\nhandoffs = ["helper"]\n'),
        fix="Define `[tools.lookup_order]`, or fix the spelling (the message suggests the tool meant).",
    ),
    "SB103": Explanation(
        why="Every conversation starts at `entry`, every guardrail (depth cap, loop budget, a refused "
        "transfer) routes to `recovery`, and front agents are the ones that may escalate: a name that is "
        "no agent leaves the conversation with no start, or no way out.",
        example=_HEAD.replace('"helper"', '"generalist"')
        + '\n[agents.front]\nhandoffs = ["helper"]\n'
        + _HELPER,
        fix="Name an existing agent, or define the agent named.",
    ),
    "SB104": Explanation(
        why="A name given twice is ambiguous: a handoff or tool listed twice would give the model two tools "
        "of one name, two contracts for one edge cannot both apply, and of two equal JSON keys the parser "
        "keeps the last, silently dropping the first.",
        example=_flow('[agents.front]\nhandoffs = ["helper", "helper"]\n'),
        fix="Remove the repeat (or merge the two contracts into one).",
    ),
    "SB105": Explanation(
        why="An agent cannot transfer to itself: the tool would swap the session to the same agent, "
        "burning depth and loop budget while going nowhere.",
        example=_flow('[agents.front]\nhandoffs = ["helper", "front"]\n'),
        fix="Remove the agent from its own handoffs.",
    ),
    "SB106": Explanation(
        why="A `[[handoff]]` contract only details an edge some agent declares in `handoffs`; without the "
        "declaration there is no transfer tool, so its `when` and `carry` never apply. Usually the "
        "handoff was forgotten or the contract names the wrong direction.",
        example=_flow(
            '[agents.front]\nhandoffs = ["helper"]\n\n[[handoff]]\nfrom = "helper"\nto = "front"\n'
        ),
        fix="Add the target to the source agent's `handoffs`, or remove the contract.",
    ),
    "SB107": Explanation(
        why="A tool no agent or the supervisor lists is never offered to a model: dead configuration, often "
        "a tool meant for an agent that forgot to list it.",
        example=_flow('[agents.front]\nhandoffs = ["helper"]\n\n[tools.refund]\ndescription = "Refund."\n'),
        fix="Add the tool to an agent's (or the supervisor's) `tools`, or delete it.",
    ),
    "SB108": Explanation(
        why="`transfer_to_<agent>` and `get_next_response_from_supervisor` are the tools Switchboard "
        "generates; a tool of yours with such a name would clash with them, and a call would be taken "
        "for a handoff (or an escalation).",
        example=_flow(
            '[agents.front]\ntools = ["transfer_to_helper"]\nhandoffs = ["helper"]\n\n'
            '[tools.transfer_to_helper]\ndescription = "Hand over."\n'
        ),
        fix="Rename the tool (and where agents list it).",
    ),
    "SB109": Explanation(
        why="A tool's `parameters` goes to the Realtime API as the function's JSON Schema, and the runtime "
        "validates the model's arguments with it. An invalid schema is rejected by the API at "
        "`session.update` (the agent ends up with no tools), or breaks argument checking mid-call.",
        example=_flow(
            '[agents.front]\ntools = ["lookup_order"]\nhandoffs = ["helper"]\n\n[tools.lookup_order]\n'
            'parameters = { type = "object", properties = { order_id = { type = "strnig" } } }\n'
        ),
        fix='Make `parameters` a valid JSON Schema with `type = "object"` at the top; the message '
        "names the bad part.",
    ),
    "SB110": Explanation(
        why="The Realtime API accepts only its own voices: a session with another voice is refused when "
        "the conversation starts. An empty `model` is no model at all.",
        example=_flow('[agents.front]\nhandoffs = ["helper"]\n', 'voice = "sagee"\n'),
        fix="Use one of the voices the message lists (it suggests the one meant); give a model name.",
    ),
    "SB111": Explanation(
        why="`run` imports each tool's `impl` before the first turn; one that cannot be found would stop "
        "the run, or (with a bad signature) fail when the model first calls the tool. Plain lint finds "
        "the module without importing it; `--import-tools` imports it and checks the signature.",
        example=_flow(
            '[agents.front]\ntools = ["lookup_order"]\nhandoffs = ["helper"]\n\n[tools.lookup_order]\n'
            'impl = "desk_tools:lookup_order"\n'
        ),
        fix="Put `desk_tools.py` (or a package `desk_tools/`) beside the flow, or on PYTHONPATH, "
        "defining `lookup_order`.",
    ),
    "SB201": Explanation(
        why="An agent no route from the entry reaches never talks to anyone: its handoff is missing, so "
        "callers who need it are never routed there.",
        example=_flow('[agents.front]\nhandoffs = ["helper"]\n\n[agents.billing]\nterminal = true\n'),
        fix="Add the agent to the `handoffs` of an agent that should lead to it, or delete it.",
    ),
    "SB202": Explanation(
        why="After `max_handoff_depth` handoffs the runtime reroutes every transfer to the recovery agent; "
        "an agent only reachable past the cap is never reached in practice.",
        example=_flow(
            '[agents.front]\nhandoffs = ["orders"]\n\n[agents.orders]\nhandoffs = ["billing"]\n\n'
            "[agents.billing]\nterminal = true\n",
            "max_handoff_depth = 1\n",
        ),
        fix="Raise `max_handoff_depth`, or add a shorter route to the agent.",
    ),
    "SB203": Explanation(
        why="With `implicit_fallback = false` the only way to the recovery agent is declared handoffs; an "
        "agent whose shortest route there does not fit in the depth left is stuck when something goes "
        "wrong, since the cap forbids the handoffs that would rescue it.",
        example=_flow(
            '[agents.front]\nhandoffs = ["helper", "orders"]\n\n[agents.orders]\nhandoffs = ["billing"]\n\n'
            '[agents.billing]\nhandoffs = ["orders"]\nmax_visits = 2\n',
            "max_handoff_depth = 2\nimplicit_fallback = false\n",
        ),
        fix="Give the agent a handoff to the recovery agent, raise `max_handoff_depth`, or keep the "
        "implicit fallback.",
    ),
    "SB204": Explanation(
        why="Every guardrail sends the conversation to the recovery agent; if it neither ends the "
        "conversation nor hands back to a working agent, every rescued caller is stuck there.",
        example=_HEAD + '\n[agents.front]\nhandoffs = ["helper"]\nterminal = true\n\n[agents.helper]\n'
        'description = "Apologises, then has nowhere to go."\n',
        fix="Set `terminal = true` on the recovery agent, or give it a handoff back to a working agent.",
    ),
    "SB205": Explanation(
        why="A non-terminal agent with no handoff can only bail out through the implicit fallback, which is "
        "meant for failures, not the normal path; usually its handoffs were forgotten.",
        example=_flow('[agents.front]\nhandoffs = ["helper", "billing"]\n\n[agents.billing]\n'),
        fix="Add the agent's handoffs, or set `terminal = true` if the conversation may end there.",
    ),
    "SB206": Explanation(
        why="Agents that hand off to each other can bounce a caller around forever (each model sure the "
        "other should answer) until the depth cap; `max_visits` on one agent of the loop bounds it and "
        "sends the caller to the recovery agent instead.",
        example=_flow(
            '[agents.front]\nhandoffs = ["sales"]\n\n[agents.sales]\nhandoffs = ["returns"]\n\n'
            '[agents.returns]\nhandoffs = ["sales"]\n'
        ),
        fix="Set `max_visits` on one agent of the loop (or ignore it, if the loop is meant).",
    ),
    "SB301": Explanation(
        why="The runtime refuses a transfer into an agent whose `requires` keys are not known yet; a key "
        "lost on some path (not carried by a contract, or never produced) means that path's transfer is "
        "refused at run time. The finding shows the path where it is lost.",
        example=_flow(
            '[agents.front]\ntools = ["login"]\nproduces = ["user_id"]\nhandoffs = ["returns"]\n\n'
            '[agents.returns]\nrequires = ["user_id"]\nterminal = true\n\n[tools.login]\nsets = ["user_id"]\n\n'
            '[[handoff]]\nfrom = "front"\nto = "returns"\ncarry = []\n'
        ),
        fix='Carry the key on the edge shown (`carry = ["user_id"]`), produce it on the way, or put it '
        "in `initial_context`.",
    ),
    "SB302": Explanation(
        why="A contract may carry only what reaches its source agent; carrying a key nothing produces "
        "upstream carries nothing, and the agent downstream that counts on it will not have it.",
        example=_flow(
            '[agents.front]\nhandoffs = ["helper"]\n\n[[handoff]]\nfrom = "front"\nto = "helper"\n'
            'carry = ["order_id"]\n'
        ),
        fix="Produce the key upstream (an agent's `produces` and its tool's `sets`), or fix its spelling.",
    ),
    "SB303": Explanation(
        why="Only tools set trusted context; an agent that `produces` a key none of its tools `sets` "
        "promises a key it cannot deliver, so agents downstream that require it get refused transfers.",
        example=_flow('[agents.front]\nproduces = ["user_id"]\nhandoffs = ["helper"]\n'),
        fix="Give the agent a tool that `sets` the key, or drop it from `produces`.",
    ),
    "SB304": Explanation(
        why="A Realtime conversation keeps every item across `session.update`: a contract that drops a key "
        'only hides it from the next agent\'s instructions, while `history = "keep"` leaves it the very '
        "turns where the caller said it (the card digits, the date of birth). The contract promises what the "
        "conversation does not keep.",
        example=_flow(
            '[agents.front]\ntools = ["verify_card"]\nproduces = ["user_id", "card_last4"]\n'
            'handoffs = ["billing"]\n\n[agents.billing]\nterminal = true\n\n[tools.verify_card]\n'
            'sets = ["user_id", "card_last4"]\n\n[[handoff]]\nfrom = "front"\nto = "billing"\n'
            'carry = ["user_id"]\n'
        ),
        fix='Set `history = "reset"` (or `"summary"`) on the contract so the earlier turns are deleted at '
        "the handoff, or carry the key if the next agent may know it.",
    ),
    "SB401": Explanation(
        why="The supervisor must be able to answer: a scripted backend without `script` has no rules, an "
        "openai backend without `model` has no model, tools with `max_tool_rounds = 0` can never be "
        "called. Every escalation would time out into the fallback answer.",
        example=_flow(
            '[agents.front]\nhandoffs = ["helper"]\nterminal = true\n\n[supervisor]\nbackend = "scripted"\n'
        ),
        fix='Give the scripted backend a `script` (or use `backend = "openai"` with a `model`).',
    ),
    "SB402": Explanation(
        why="The scripted supervisor loads its rules at start-up; a rules file that is missing or does "
        "not load would stop `run`. Its own problems are shown as notes at their place in that file.",
        example=_flow(
            '[agents.front]\nhandoffs = ["helper"]\nterminal = true\n\n[supervisor]\n'
            'script = "supervisor_rules.toml"\n'
        ),
        fix="Create the rules file (its path is relative to the flow) or fix what the notes point at.",
    ),
    "SB501": Explanation(
        why="The model follows its instructions: told to transfer somewhere it has no tool for, it calls a "
        "tool that does not exist (the call fails) or improvises an answer. The prompt and the graph "
        "disagree, and one of them is wrong.",
        example=_flow(
            '[agents.front]\ninstructions = "For billing questions, transfer the caller to the billing agent."\n'
            'handoffs = ["helper", "orders"]\n\n[agents.orders]\nhandoffs = ["billing"]\n\n'
            "[agents.billing]\nterminal = true\n"
        ),
        fix="Add the handoff the prompt asks for, or change the prompt to name a transfer the agent has.",
    ),
    "SB601": Explanation(
        why="An ignore that names no rule (a typo, or a comment without codes) suppresses nothing: the "
        "warning you meant to silence is still reported, and the typo would otherwise go unnoticed.",
        example=_flow(
            '[agents.front]\nhandoffs = ["helper"]\n\n[tools.refund]\ndescription = "Refund."\n',
            '\n[lint]\nignore = ["SB1O7"]   # a letter O: the unused tool is still reported\n',
        ),
        fix="Use a code `switchboard rule` lists (the message suggests the one meant).",
    ),
    "SB602": Explanation(
        why="Errors are what `run` refuses, so silencing one in lint would only move the failure to "
        "start-up: an error is always reported, and an ignore naming one is flagged (as is one naming "
        "SB601-SB603, which are about ignores themselves).",
        example=_flow(
            '[agents.front]\nhandoffs = ["helper"]\n\n'
            "[agents.billing]  # switchboard: ignore[SB201]   (SB201 is still reported)\nterminal = true\n"
        ),
        fix="Fix the error and remove its code from the ignore.",
    ),
    "SB603": Explanation(
        why="An ignore with nothing to suppress is stale: the warning was fixed, or the comment stands on "
        "the wrong line. Left in place it would silence a new warning of that kind later, unseen.",
        example=_flow('[agents.front]\nhandoffs = ["helper"]\n', '\n[lint]\nignore = ["SB206"]\n'),
        fix="Remove it (or move the comment to the line the warning points at, or the line above).",
    ),
    "SB701": Explanation(
        why="The emulator matches a rule by the agent whose instructions it reads: a rule for an agent the "
        "flow lacks (a typo, a renamed agent) never matches, so the script silently tests something else, "
        "and an expectation naming one can never hold.",
        example=_script('[[rule]]\nagent = "frnot"\nsay = "Hello"\n'),
        flow=_SCRIPT_FLOW,
        fix="Use the agent's name as the flow spells it (the message suggests the one meant).",
    ),
    "SB702": Explanation(
        why="A rule that calls, or waits for, a function no agent is offered is a call the session refuses "
        "at run time; an expectation naming one can never hold.",
        example=_script('[[rule]]\nagent = "front"\ncall = "refund"\n'),
        flow=_SCRIPT_FLOW,
        fix="Name a `[tools.*]` entry of the flow, a `transfer_to_<agent>`, or the escalation tool.",
    ),
    "SB703": Explanation(
        why="`transfer_to_<agent>` exists only for the flow's agents: a transfer to any other name is a "
        "call no agent can make, so the rule or expectation that names it tests nothing.",
        example=_script('[[turn]]\nuser = "I need help"\nexpect = { tool = "transfer_to_helpr" }\n'),
        flow=_SCRIPT_FLOW,
        fix="Transfer to one of the flow's agents (the message suggests the one meant).",
    ),
    "SB704": Explanation(
        why="A context key the flow never uses can never be set or cleared, so an expectation on it is "
        "meaningless; and a script may give as trusted initial context only what the flow declares in "
        "`initial_context`, like `--context` on the command line.",
        example=_script('[[turn]]\nuser = "hi"\n\n[expect]\ncontext = { set = ["user_id"] }\n'),
        flow=_SCRIPT_FLOW,
        fix="Name a key the flow declares (`initial_context`, `produces`, `requires`, `sets`, `carry`).",
    ),
    "SB705": Explanation(
        why="A script is checked against the flow it names, and run against it by `switchboard test`: when "
        "that flow is missing or fails lint, neither can happen, so the script is reported too.",
        example=_script('[[turn]]\nuser = "hi"\nexpect = { agent = "front" }\n').replace(
            "flow.toml", "missing.toml"
        ),
        flow=_SCRIPT_FLOW,
        fix="Fix the path (it is relative to the script) or the flow's own findings (`switchboard lint FLOW`).",
    ),
}
