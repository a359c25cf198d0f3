"""Tests for flows: scripts with expectations run against the embedded emulator, checked, reported.

:mod:`.case` loads a script and its flow, :mod:`.observe` records what a run did, :mod:`.check` compares the
two (pure), :mod:`.references` checks a script's names against its flow (lint), :mod:`.runner` runs cases,
:mod:`.junit` writes JUnit XML, and :mod:`.pytest_plugin` makes scripts pytest items.
"""
