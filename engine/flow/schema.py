"""The JSON Schema of the flow format, generated from the pydantic models."""

from __future__ import annotations

import json
from typing import Any

from engine.flow.model import Flow

SCHEMA_ID = "https://switchboard.dev/schemas/flow.schema.json"


def flow_json_schema() -> dict[str, Any]:
    """The flow format as JSON Schema (draft 2020-12), for editors (taplo, VS Code) and CI."""
    schema = Flow.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def flow_json_schema_text() -> str:
    return json.dumps(flow_json_schema(), indent=2, sort_keys=True) + "\n"
