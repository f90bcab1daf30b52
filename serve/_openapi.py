"""The published OpenAPI schema of ``skillgap serve`` (``GET /openapi.json``).

It describes the subset of OpenAI's API the server implements, so generic tools (schemathesis in
the tests, client generators) can drive it. Every documented route answers only documented
statuses, each with OpenAI's error shape.
"""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": "string", "nullable": True},
                "code": {"type": "string", "nullable": True},
            },
        }
    },
}
_MODEL = {
    "type": "object",
    "required": ["id", "object", "created", "owned_by"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["model"]},
        "created": {"type": "integer"},
        "owned_by": {"type": "string"},
        "max_model_len": {"type": "integer", "minimum": 1},
        "skillgap": {"type": "object"},
    },
}
_TEXT_PART = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {"type": {"type": "string", "enum": ["text"]}, "text": {"type": "string"}},
}
_IMAGE_PART = {
    "type": "object",
    "required": ["type", "image_url"],
    "properties": {
        "type": {"type": "string", "enum": ["image_url"]},
        "image_url": {
            "type": "object",
            "required": ["url"],
            "properties": {"url": {"type": "string", "pattern": "^data:image/"}},
        },
    },
}
_COMPLETION = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices", "usage"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["chat.completion"]},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["index", "message", "finish_reason"],
                "properties": {
                    "index": {"type": "integer"},
                    "message": {
                        "type": "object",
                        "required": ["role", "content"],
                        "properties": {"role": {"type": "string", "enum": ["assistant"]},
                                       "content": {"type": "string"}},
                    },
                    "finish_reason": {"type": "string", "enum": ["stop", "length"]},
                    "logprobs": {"type": "object", "nullable": True},
                },
            },
        },
        "usage": {
            "type": "object",
            "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
            "properties": {name: {"type": "integer", "minimum": 0}
                           for name in ("prompt_tokens", "completion_tokens", "total_tokens")},
        },
    },
}


def _errors(*statuses: int) -> dict[str, Any]:
    names = {400: "Invalid request", 401: "Missing or invalid API key", 404: "Unknown model",
             413: "Request body too large", 429: "Server busy; see Retry-After",
             500: "The model failed", 503: "The model is unavailable", 504: "Deadline exceeded"}
    return {str(status): {"description": names[status],
                          "content": {"application/json": {"schema": _ERROR}}}
            for status in statuses}


def openapi_schema(model_name: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of a server serving ``model_name``."""
    request = {
        "type": "object",
        "required": ["model", "messages"],
        "properties": {
            "model": {"type": "string", "enum": [model_name]},
            "messages": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["role", "content"],
                    "properties": {
                        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant"]},
                        "content": {"oneOf": [
                            {"type": "string"},
                            {"type": "array", "minItems": 1, "items": {"oneOf": [_TEXT_PART, _IMAGE_PART]}},
                        ]},
                    },
                },
            },
            "max_tokens": {"type": "integer", "minimum": 1},
            "max_completion_tokens": {"type": "integer", "minimum": 1},
            "temperature": {"type": "number", "minimum": 0},
            "seed": {"type": "integer"},
            "logprobs": {"type": "boolean"},
            "n": {"type": "integer", "enum": [1]},
            "stream": {"type": "boolean", "enum": [False]},
            "response_format": {"type": "object"},
            "structured_outputs": {"type": "object"},
            "guided_regex": {"type": "string", "minLength": 1},
            "guided_json": {"oneOf": [{"type": "object"}, {"type": "string"}]},
            "guided_choice": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            "regex": {"type": "string", "minLength": 1},
        },
    }
    security: dict[str, Any] = {"security": [{"bearer": []}, {}]}
    return {
        "openapi": "3.0.3",
        "info": {"title": "skillgap serve", "version": "1",
                 "description": "An OpenAI-compatible subset: chat completions and models."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/v1/models": {"get": {
                "operationId": "listModels",
                **security,
                "responses": {
                    "200": {"description": "The served model", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["object", "data"],
                        "properties": {"object": {"type": "string"},
                                       "data": {"type": "array", "items": _MODEL}}}}}},
                    **_errors(401),
                },
            }},
            "/v1/chat/completions": {"post": {
                "operationId": "createChatCompletion",
                **security,
                "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
                "responses": {
                    "200": {"description": "The completion",
                            "content": {"application/json": {"schema": _COMPLETION}}},
                    **_errors(400, 401, 404, 413, 429, 500, 503, 504),
                },
            }},
        },
    }


__all__ = ["openapi_schema"]
