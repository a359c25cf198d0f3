"""The rule catalogue: every diagnostic code the loader and the verifier emit, with its name and severity."""

from __future__ import annotations

from dataclasses import dataclass

from engine.flow.diagnostics import Severity

E, W = Severity.ERROR, Severity.WARNING


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str


RULES: dict[str, Rule] = {
    r.code: r
    for r in [
        Rule("SB000", "internal-error", E, "Lint itself failed on this file (a bug: please report it)."),
        # loading (engine/flow/loader.py)
        Rule("SB001", "unreadable", E, "The flow file cannot be read, or its extension is not .toml/.json."),
        Rule("SB002", "malformed", E, "The file is not valid TOML/JSON."),
        Rule(
            "SB003",
            "schema",
            E,
            "A value has the wrong type, a key is unknown or missing, or a name is invalid.",
        ),
        Rule("SB004", "instructions-file", E, "An `instructions_file` cannot be read."),
        Rule(
            "SB005",
            "file-confinement",
            E,
            "A file the flow names is outside the flow's folder, not a regular file, over 1 MiB, or not UTF-8.",
        ),
        Rule("SB006", "nesting-depth", E, "Tables and arrays nest deeper than 64 levels."),
        # references
        Rule(
            "SB101",
            "unknown-handoff-target",
            E,
            "A handoff (or contract) names an agent that does not exist.",
        ),
        Rule("SB102", "unknown-tool", E, "An agent or the supervisor lists a tool that is not defined."),
        Rule(
            "SB103",
            "unknown-entry-or-recovery",
            E,
            "`entry`, `recovery` or a supervisor front agent is unknown.",
        ),
        Rule(
            "SB104", "duplicate-name", E, "A name is given twice (a handoff, a tool, a contract, a JSON key)."
        ),
        Rule("SB105", "self-handoff", E, "An agent hands off to itself."),
        Rule("SB106", "orphan-contract", W, "A `[[handoff]]` contract names an edge that no agent declares."),
        Rule("SB107", "unused-tool", W, "A tool is defined but no agent or supervisor uses it."),
        Rule(
            "SB108", "reserved-name", E, "A tool name collides with a generated transfer or escalation tool."
        ),
        Rule(
            "SB109",
            "tool-schema",
            E,
            "A tool's `parameters` is not a valid JSON Schema, not an object schema, or has a bad `pattern`.",
        ),
        Rule(
            "SB110",
            "unknown-value",
            E,
            "`[flow] voice` is not a voice of the Realtime API, or `[flow] model` is empty.",
        ),
        Rule(
            "SB111",
            "tool-impl",
            E,
            "A tool's `impl` cannot be found (or, with --import-tools, imported or called with its parameters).",
        ),
        # topology
        Rule("SB201", "unreachable-agent", E, "An agent cannot be reached from the entry agent."),
        Rule(
            "SB202", "depth-cap", E, "An agent is reachable only in more handoffs than `max_handoff_depth`."
        ),
        Rule(
            "SB203",
            "stranded-agent",
            E,
            "The recovery agent cannot be reached from an agent within the budget.",
        ),
        Rule(
            "SB204",
            "recovery-dead-end",
            E,
            "The recovery agent neither leads back to a working agent nor is terminal.",
        ),
        Rule("SB205", "dead-end", E, "A non-terminal agent declares no handoff."),
        Rule(
            "SB206",
            "unbudgeted-loop",
            W,
            "A cycle of handoffs (fallback and reroutes included) has no agent with an enforced `max_visits`.",
        ),
        # contracts
        Rule(
            "SB301",
            "required-key-lost",
            E,
            "A required context key is not guaranteed on every path from entry.",
        ),
        Rule("SB302", "carry-never-produced", E, "A contract carries a key that nothing upstream produces."),
        Rule("SB303", "produces-without-tool", W, "An agent `produces` a key that none of its tools `sets`."),
        Rule(
            "SB304",
            "history-leaks-dropped-key",
            W,
            'A contract drops a key (no agent requires) the source knows while `history = "keep"` lets the next agent read it.',
        ),
        # supervisor
        Rule(
            "SB401",
            "supervisor-config",
            E,
            "The supervisor cannot work as configured (scripted without `script`, openai without `model`, tools with `max_tool_rounds = 0`).",
        ),
        Rule("SB402", "supervisor-rules", E, "The scripted supervisor's rules file does not load."),
        # prompts
        Rule(
            "SB501",
            "prompt-mentions-unknown-agent",
            W,
            "An agent's instructions tell it to transfer to an agent it has no transfer tool for.",
        ),
        # suppressions ([lint] ignore, `# switchboard: ignore[...]`; engine/verify/suppress.py)
        Rule(
            "SB601",
            "unknown-ignore",
            W,
            "An ignore names no rule: an unknown code, or an ignore comment without codes.",
        ),
        Rule(
            "SB602",
            "unsuppressible",
            W,
            "An ignore names an error (or a suppression rule): only warnings can be suppressed.",
        ),
        Rule("SB603", "unused-ignore", W, "An ignore suppresses nothing: no such warning where it applies."),
        # scripts checked against the flow they name (engine/flowtest/references.py)
        Rule(
            "SB701",
            "script-unknown-agent",
            E,
            "A script's rule or expectation names an agent the flow lacks.",
        ),
        Rule("SB702", "script-unknown-tool", E, "A script names a function no agent of the flow is offered."),
        Rule(
            "SB703",
            "script-unknown-transfer",
            E,
            "A script's `transfer_to_<agent>` names no agent of the flow.",
        ),
        Rule(
            "SB704",
            "script-unknown-context-key",
            E,
            "A script's context names a key the flow never uses, or not one of its `initial_context`.",
        ),
        Rule(
            "SB705", "script-flow-invalid", E, "The flow a script names cannot be read or does not pass lint."
        ),
    ]
}
