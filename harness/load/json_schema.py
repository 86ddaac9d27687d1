"""The JSON Schema of a scenario file, made from the pydantic models (`harness/load/scenario.py` and each registered
kind's node model), for editors and `check-jsonschema`. `python -m harness schema [--output FILE]`; the committed
copy is docs/scenario.schema.json (tests/test_schema.py says when it is stale).

What `Scenario.model_json_schema()` alone gets wrong, and is fixed here:
- `nodes:` is typed `NodeModel` (the base) there; the loader validates each node with its kind's model, so here a
  node is one of the registered kinds' models, told apart by `kind:`;
- `expect: <node>:` is an empty `NodeExpect` there; the loader uses `node_expect_model()` (a field per category
  of the registered kinds);
- `name`, `file` and `source` are set by `load_scenario`, not written in a file;
- a `mode="before"` validator that takes more than the field's type (WIDER_INPUTS) is invisible to pydantic;
- a few checks of the loader that are not the models' (node names, server families, at least one client)."""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_origin

from pydantic import ConfigDict, Field, create_model

from harness.kinds import registry
from harness.load.scenario import CLIENT, MAX_NODES, NAME_RE, Scenario, node_expect_model

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
LOADER_FIELDS = frozenset({"name", "file", "source"})
"""Fields of `Scenario` that `load_scenario` fills in (from the file's path and its lines)."""
WIDER_INPUTS: dict[tuple[str, str], dict[str, Any]] = {
    ("KnownIssue", "servers"): {"type": "string"},
}
"""(model, field) -> the extra input its `mode="before"` validator accepts (KnownIssue._one_or_many: one label
or a list). tests/test_schema.py checks each is still accepted by its model."""
COMMENT = ("Generated from the pydantic models by `mailhops schema --output docs/scenario.schema.json` "
           "(harness/load/json_schema.py); do not edit.")


def _node_type() -> Any:
    """One of the registered kinds' models, discriminated by `kind:` when every kind's `kind` is a Literal."""
    models = tuple(kind.model for kind in registry.kinds())
    if len(models) == 1:
        return models[0]
    literal = all(get_origin(model.model_fields["kind"].annotation) is Literal for model in models)
    union = Union[models]  # noqa: UP007 - a Union of a runtime tuple of classes
    return Annotated[union, Field(discriminator="kind")] if literal else union


def file_model() -> type:
    """A model of what a scenario file holds: Scenario's fields (their defaults and constraints as declared)
    without the loader's, with `nodes` and `expect` typed as the loader validates them."""
    fields: dict[str, Any] = {}
    for name, info in Scenario.model_fields.items():
        if name in LOADER_FIELDS:
            continue
        annotation = {"nodes": dict[str, _node_type()], "expect": dict[str, node_expect_model()]}.get(
            name, info.annotation)
        field = copy.copy(info)
        field.annotation = annotation
        fields[name] = (annotation, field)
    return create_model("Scenario", __config__=ConfigDict(extra="forbid", title="mailhops scenario"),
                        __doc__=Scenario.__doc__, **fields)


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario file."""
    schema = file_model().model_json_schema()
    properties = schema["properties"]
    defs = schema.get("$defs", {})
    for (model, field), wider in WIDER_INPUTS.items():
        target = defs.get(model, {}).get("properties", {})
        if field in target:
            default = {key: target[field].pop(key) for key in ("default", "title") if key in target[field]}
            target[field] = {"anyOf": [wider, target[field]], **default}
    properties["nodes"] |= {
        "propertyNames": {"pattern": NAME_RE.pattern, "not": {"const": CLIENT}},
        "maxProperties": MAX_NODES,
        "minProperties": 1,
    }
    properties["clients"]["minItems"] = 1
    properties["servers"]["propertyNames"] = {"enum": list(registry.families())}
    return {"$schema": SCHEMA_DIALECT, "$comment": COMMENT, **schema}


def schema_text() -> str:
    return json.dumps(scenario_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mailhops schema", description="print the JSON Schema of a scenario file")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write it to FILE instead")
    args = parser.parse_args(argv)
    text = schema_text()
    if args.output is None:
        sys.stdout.write(text)
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

