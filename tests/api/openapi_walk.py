"""Walking the OpenAPI document: every operation's JSON body and query, down to each property."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

Path = tuple[str | int, ...]


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` (to ``#/components/schemas/...``) until a schema with content."""
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def leaves(
    doc: dict[str, Any], schema: dict[str, Any], prefix: Path = ()
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Yield ``(path, schema)`` for every scalar property reachable from ``schema``.

    Objects are entered through ``properties``, arrays through ``items`` (as index 0), and
    ``anyOf``/``oneOf``/``allOf`` through each alternative (a nullable nested object is one).
    """
    schema = resolve(doc, schema)
    alternatives = [*schema.get("anyOf", []), *schema.get("oneOf", []), *schema.get("allOf", [])]
    if alternatives:
        seen: set[Path] = set()
        for alternative in alternatives:
            for path, leaf in leaves(doc, alternative, prefix):
                if path not in seen:
                    seen.add(path)
                    yield path, leaf
        return
    if "properties" in schema:
        for name, prop in schema["properties"].items():
            yield from leaves(doc, prop, (*prefix, name))
    elif schema.get("type") == "array" and schema.get("items"):
        yield from leaves(doc, schema["items"], (*prefix, 0))
    elif prefix and schema.get("type") not in (None, "object"):
        yield prefix, schema


def json_operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield ``(method, path, body schema)`` for every operation taking a JSON body."""
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":  # shared path parameters, not an operation
                continue
            content = (operation.get("requestBody") or {}).get("content", {})
            if "application/json" in content:
                yield method.upper(), path, content["application/json"]["schema"]


def query_parameters(doc: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """Yield ``(method, path, name, schema)`` for every query parameter of every operation."""
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    yield method.upper(), path, parameter["name"], parameter.get("schema", {})


def set_at(body: dict[str, Any], path: Path, value: Any) -> None:
    """Put ``value`` at ``path`` inside an existing body, making what is missing on the way."""
    node: Any = body
    for key, following in itertools.pairwise(path):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(node, list):
            while len(node) <= key:  # type: ignore[operator]
                node.append(empty)
            if node[key] is None:
                node[key] = empty
        elif node.get(key) is None:
            node[key] = empty
        node = node[key]
    if isinstance(node, list) and len(node) <= path[-1]:  # type: ignore[operator]
        node.append(value)
    else:
        node[path[-1]] = value


def dotted(path: Path) -> str:
    """The field path as the API's ``errors`` spell it: ``children.0.voice.own_words``."""
    return ".".join(str(part) for part in path)


def concrete(path_template: str, value: str) -> str:
    """The operation's path with every ``{parameter}`` filled with ``value``, under /api/v1."""
    parts = [value if part.startswith("{") else part for part in path_template.split("/")]
    return "/".join(parts).removeprefix("/api/v1")
