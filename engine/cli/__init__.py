"""The ``switchboard`` command and every line of terminal output."""

from engine.cli.console import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from engine.cli.lint import find_flow_files
from engine.cli.main import main

__all__ = ["EXIT_FINDINGS", "EXIT_OK", "EXIT_USAGE", "find_flow_files", "main"]
