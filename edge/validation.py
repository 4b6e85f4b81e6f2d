"""Readable validation errors for people: which field, what was wrong; never the input value."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bus_schemas.safe_json import PayloadError, loads_json
from bus_schemas.web import ErrorResponse

from .appkeys import SETTINGS


def error(status: int, message: str, problems: list[dict[str, Any]] | None = None) -> web.Response:
    return web.json_response(ErrorResponse(error=message, details=problems or []).model_dump(), status=status)


def describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5])


def details(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "problem": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]


M = TypeVar("M", bound=BaseModel)


def _json_error(exc: type[web.HTTPException], message: str, problems: list[dict[str, Any]] | None = None) -> Exception:
    body = ErrorResponse(error=message, details=problems or []).model_dump_json()
    return exc(text=body, content_type="application/json")


async def read_model(request: web.Request, model: type[M]) -> M:
    """The request body as `model`, or a 400 (413 when too large) that says what was wrong. The
    JSON is read with `bus_schemas.safe_json`: bounded depth, strict UTF-8, no RecursionError."""
    max_bytes = request.app[SETTINGS].max_body_bytes
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:  # a chunked body that went past client_max_size
        message = f"request body is larger than {max_bytes} bytes"
        text = ErrorResponse(error=message, details=[]).model_dump_json()
        raise web.HTTPRequestEntityTooLarge(max_bytes, text=text, content_type="application/json") from None
    try:
        raw = loads_json(body or b"{}", what="request body", max_bytes=max_bytes)
    except PayloadError as exc:
        raise _json_error(web.HTTPBadRequest, exc.reason) from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _json_error(web.HTTPBadRequest, f"invalid {model.__name__}", details(exc)) from exc


def not_found(message: str) -> Exception:
    return _json_error(web.HTTPNotFound, message)


def conflict(message: str) -> Exception:
    return _json_error(web.HTTPConflict, message)


def gone(message: str) -> Exception:
    return _json_error(web.HTTPGone, message)


def forbidden(message: str) -> Exception:
    return _json_error(web.HTTPForbidden, message)


def unavailable(message: str) -> Exception:
    return _json_error(web.HTTPServiceUnavailable, message)


def bad_request(message: str, problems: list[dict[str, Any]] | None = None) -> Exception:
    return _json_error(web.HTTPBadRequest, message, problems)
