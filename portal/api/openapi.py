"""The OpenAPI 3.1 document, generated from the route registry and the models it validates with.

Nothing here is written by hand per route: paths, parameters, bodies and responses all come
from the `Operation`s in the registry, and every schema from pydantic's own JSON Schema output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from portal.api.registry import Operation, Registry
from portal.api.schemas import Problem

REF = "#/components/schemas/{model}"
PROBLEM_JSON = "application/problem+json"
#: Every response names the request it answers (portal.logs), for support and log searches.
REQUEST_ID_HEADER = {
    "X-Request-ID": {
        "description": "This request's id, as in the portal's logs: the caller's own "
        "X-Request-ID when it is 8 to 64 letters, digits, '.', '_' or '-', else a new one.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{7,63}$"},
    }
}

#: Names of the shared problem responses in components.responses.
_RESPONSE_NAMES = {
    400: "MalformedBody",
    401: "Unauthorized",
    404: "NotFound",
    409: "Conflict",
    413: "ContentTooLarge",
    415: "UnsupportedMediaType",
    422: "ValidationFailed",
    429: "TooManyRequests",
    503: "ServiceUnavailable",
}


def openapi_path(prefix: str, rule: str) -> str:
    """Flask's "/clients/<external_id>" as OpenAPI's "/api/v1/clients/{external_id}"."""
    return prefix + re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def document(registry: Registry, *, title: str, version: str) -> dict[str, Any]:
    """Build the whole document for every operation in `registry`."""
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for operation in registry.operations:
        if operation.body is not None:
            wanted[(operation.body, "validation")] = None
        for model in operation.responses.values():
            if model is not None:
                wanted[(model, "serialization")] = None
    wanted[(Problem, "serialization")] = None
    refs, definitions = models_json_schema(list(wanted), ref_template=REF)
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))

    paths: dict[str, dict[str, Any]] = {}
    prefix = registry.blueprint.url_prefix or ""
    for operation in registry.operations:
        item = paths.setdefault(openapi_path(prefix, operation.rule), {})
        item[operation.method.lower()] = _operation(operation, refs, schemas)

    used = sorted({status for op in registry.operations for status in op.error_statuses})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "The firm's API: upsert clients, matters, invoices and trust "
            "entries by external id, sync them in bulk, issue client links, read the payments "
            "clients made and refund them. Amounts are integers of minor units; errors are "
            "RFC 9457 problem details. When the back office's own figures already include a "
            "portal payment, it says so with `portal_payments` on invoices and "
            "`portal_payment` on trust entries, so the payment is not counted twice.",
        },
        "tags": [{"name": tag} for tag in dict.fromkeys(op.tag for op in registry.operations)],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A firm API key (mp_...) as `Authorization: Bearer <key>`.",
                }
            },
            "responses": {_RESPONSE_NAMES[status]: _problem_response(status) for status in used},
        },
    }


def _operation(
    operation: Operation,
    refs: Mapping[tuple[Any, JsonSchemaMode], Any],
    schemas: dict[str, Any],
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "operationId": operation.endpoint,
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    if operation.description:
        result["description"] = operation.description
    parameters = (
        _parameters(operation.path, "path", schemas)
        + _parameters(operation.query, "query", schemas)
        + _parameters(operation.headers, "header", schemas)
    )
    if parameters:
        result["parameters"] = parameters
    if operation.body is not None:
        result["requestBody"] = {
            "required": operation.body_required,
            "content": {"application/json": {"schema": refs[(operation.body, "validation")]}},
        }
    if operation.raw_body:
        # A file sent as the body itself (a logo), described by its media types.
        result["requestBody"] = {
            "required": True,
            "content": {
                media: {"schema": {"type": "string", "contentMediaType": media}}
                for media in operation.raw_body
            },
        }
    responses: dict[str, Any] = {}
    for status, model in sorted(operation.responses.items()):
        if status == HTTPStatus.NO_CONTENT:
            # No body, so no media type either (RFC 9110 section 15.3.5).
            responses[str(status)] = {
                "description": HTTPStatus(status).phrase,
                "headers": dict(REQUEST_ID_HEADER),
            }
            continue
        schema = refs[(model, "serialization")] if model is not None else {"type": "object"}
        responses[str(status)] = {
            "description": HTTPStatus(status).phrase,
            "headers": dict(REQUEST_ID_HEADER),
            "content": {
                "application/json": {"schema": schema},
                **{
                    media: dict(entry)
                    for media, entry in operation.alternatives.get(status, {}).items()
                },
            },
        }
    for status in operation.error_statuses:
        responses[str(status)] = {"$ref": f"#/components/responses/{_RESPONSE_NAMES[status]}"}
    result["responses"] = responses
    if operation.public:
        result["security"] = []
    return result


def _parameters(
    model: type[BaseModel] | None, where: str, schemas: dict[str, Any]
) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF)
    schemas.update(schema.get("$defs", {}))
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        prop.pop("title", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": prop,
        }
        if "description" in prop:
            parameter["description"] = prop.pop("description")
        parameters.append(parameter)
    return parameters


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": HTTPStatus(status).phrase,
        "headers": dict(REQUEST_ID_HEADER),
        "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}},
    }
    if status == 429:
        response["headers"] |= {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    if status == 401:
        response["headers"] |= {
            "WWW-Authenticate": {
                "description": "Always `Bearer ...`: send an API key.",
                "schema": {"type": "string"},
            }
        }
    return response
