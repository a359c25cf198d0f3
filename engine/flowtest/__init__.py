"""Tests for flows: scripts with expectations run against the embedded emulator, checked, reported.

:mod:`.case` loads a script and its flow, :mod:`.observe` records what a run did, :mod:`.check` compares the
two (pure), :mod:`.references` checks a script's names against its flow (lint), :mod:`.runner` runs cases,
:mod:`.report` and :mod:`.junit` word the results, :mod:`.pytest_plugin` makes scripts pytest items.
:mod:`.explore` models the core's guardrails and searches it, :mod:`.generate` writes suites from it,
:mod:`.coverage` says what a suite exercised, :mod:`.mutate` checks that a suite notices single mutations of
its flow, and :mod:`.scaffold` is ``switchboard init``.
"""
