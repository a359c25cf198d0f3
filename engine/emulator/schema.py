"""The JSON Schema of the script format (``switchboard schema --script``), generated from the pydantic
models as the flow's is (:mod:`engine.flow.schema`), for editors and CI."""

from __future__ import annotations

import json
from typing import Any

from engine.emulator.script import ScriptDocument
from engine.flow.schema import DIALECT, FlowSchemaGenerator

__all__ = ["SCRIPT_SCHEMA_ID", "script_json_schema", "script_json_schema_text"]

SCRIPT_SCHEMA_ID = "https://switchboard.dev/schemas/script.schema.json"


def script_json_schema() -> dict[str, Any]:
    schema = ScriptDocument.model_json_schema(by_alias=True, schema_generator=FlowSchemaGenerator)
    return {"$schema": DIALECT, "$id": SCRIPT_SCHEMA_ID, **schema}


def script_json_schema_text() -> str:
    return json.dumps(script_json_schema(), indent=2, sort_keys=True) + "\n"
