"""Refusals on the OpenAI door's paths in OpenAI's error shape, `{"error": {"message", "type", "code",
"param"}}`, with the status the SDK maps to its exceptions (400 BadRequestError, 401
AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError, 429 RateLimitError, ...). The
front door's refusals (bad key, rate limit, body size) come here through edge/doors/errors.py."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from bus_schemas.openai_compat import ErrorBody, ErrorResponse

# status -> (type, code), as OpenAI's API answers them.
KINDS: Final[dict[int, tuple[str, str | None]]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    409: ("invalid_request_error", "conflict"),
    410: ("invalid_request_error", "gone"),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    421: ("invalid_request_error", "misdirected_request"),
    429: ("requests", "rate_limit_exceeded"),
    503: ("server_error", "service_unavailable"),
    504: ("timeout", "timeout"),
}


def error_body(status: int, message: str, *, code: str | None = None, param: str | None = None) -> ErrorResponse:
    kind, default_code = KINDS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return ErrorResponse(error=ErrorBody(message=message, type=kind, code=code or default_code, param=param))


def openai_error(status: int, message: str, *, code: str | None = None, param: str | None = None) -> web.Response:
    body = error_body(status, message, code=code, param=param)
    return web.Response(text=body.model_dump_json(), status=status, content_type="application/json")


def formatter(request: web.Request, status: int, message: str) -> web.StreamResponse:
    """For edge/doors/errors.py: any refusal on the door's paths."""
    return openai_error(status, message)
