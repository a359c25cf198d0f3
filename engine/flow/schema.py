"""The JSON Schema of the flow format, generated from the pydantic models.

It accepts exactly the documents the loader accepts at the schema stage (``tests/flow/test_schema.py``
checks that on generated documents, and lists what JSON Schema cannot say). Two things pydantic's generator
leaves out are added here:

- a table keyed by names (``[agents.NAME]``) says its keys' pattern with ``propertyNames`` and every value's
  schema with ``additionalProperties`` (pydantic's ``patternProperties`` lets a key that fails the pattern
  through unchecked);
- a pattern that ends in ``$`` ends in ``(?!\\n)$``: the same in ECMA-262 (the dialect of JSON Schema, and
  of the Rust engine pydantic matches with), where ``$`` is the end, but also right in Python's ``re``
  (which python-jsonschema uses), where ``$`` also matches before a final newline.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from engine.flow.model import Flow

SCHEMA_ID = "https://switchboard.dev/schemas/flow.schema.json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


class FlowSchemaGenerator(GenerateJsonSchema):
    """pydantic's generator, with name-keyed tables closed and patterns anchored for every engine."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        json_schema = super().str_schema(schema)
        pattern = json_schema.get("pattern")
        if isinstance(pattern, str) and pattern.endswith("$") and not pattern.endswith("\\$"):
            json_schema["pattern"] = pattern[:-1] + "(?!\\n)$"
        return json_schema

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        json_schema = super().dict_schema(schema)
        patterns = json_schema.pop("patternProperties", None)
        if patterns:
            ((pattern, values),) = patterns.items()
            json_schema["propertyNames"] = {**json_schema.get("propertyNames", {}), "pattern": pattern}
            json_schema["additionalProperties"] = values
        return json_schema


def flow_json_schema() -> dict[str, Any]:
    """The flow format as JSON Schema (draft 2020-12), for editors (taplo, VS Code) and CI."""
    schema = Flow.model_json_schema(by_alias=True, schema_generator=FlowSchemaGenerator)
    return {"$schema": DIALECT, "$id": SCHEMA_ID, **schema}


def flow_json_schema_text() -> str:
    return json.dumps(flow_json_schema(), indent=2, sort_keys=True) + "\n"
