"""GraphQL over HTTP content negotiation (https://graphql.github.io/graphql-over-http/draft/).

A client that accepts `application/graphql-response+json` (Apollo Client 4, urql, graphql-http) gets it, and
with it the status codes that tell request errors apart: parse, validation and variable errors are 400 and
have no `data`, so a client can show their codes without guessing. Everyone else gets `application/json`,
where the spec's legacy rule holds: a well-formed GraphQL response is 200, errors and all (what graphql-http
checks, and what pre-2025 clients expect). Accept parsing is hand-written: the rules are a dozen lines and no
maintained library picks between these two types by the spec's preference rules.
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
# what we produce, in the order we prefer it when the client ranks both equally
PRODUCED = (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON)


def _ranges(accept: str) -> list[tuple[str, float]]:
    out = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        out.append((media.lower(), q))
    return out


def _quality(media: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """The q of the most specific range matching `media`, and how specific it was (2 exact, 1 type/*, 0 */*)."""
    kind = media.split("/", 1)[0]
    best: tuple[float, int] = (0.0, -1)
    for candidate, q in ranges:
        specificity = (
            2 if candidate == media else 1 if candidate == f"{kind}/*" else 0 if candidate == "*/*" else -1
        )
        if specificity > best[1]:
            best = (q, specificity)
    return best


def response_media_type(accept: str | None) -> str | None:
    """The media type to answer with, or None when the client accepts neither (406).

    No Accept header, `*/*` and `application/*` mean `application/json` (the spec: a client that does not
    name the new type is a legacy one); `application/graphql-response+json` is chosen when named explicitly
    with a q at least that of `application/json`.
    """
    if accept is None or not accept.strip():
        return APPLICATION_JSON
    ranges = _ranges(accept)
    new_q, new_specificity = _quality(GRAPHQL_RESPONSE_JSON, ranges)
    json_q, _ = _quality(APPLICATION_JSON, ranges)
    if new_q > 0 and new_specificity == 2 and new_q >= json_q:
        return GRAPHQL_RESPONSE_JSON
    if json_q > 0:
        return APPLICATION_JSON
    if new_q > 0:
        return GRAPHQL_RESPONSE_JSON
    return None


def request_error_status(media: str) -> int:
    """The status of a response without `data` (the operation never ran: a parse, validation or variable
    error, or no operation to run)."""
    return 400 if media == GRAPHQL_RESPONSE_JSON else 200


def is_request_error(payload: dict[str, object]) -> bool:
    """A result that never started executing: no `data`, or graphql-core's `data: null` with only path-less
    errors (variable coercion and operation selection fail before any field runs; every field error has a
    path). The planner's gateway reports the same cases without `data`, so both are answered alike."""
    if "data" not in payload:
        return True
    errors = payload.get("errors")
    return (
        payload["data"] is None
        and isinstance(errors, list)
        and bool(errors)
        and all(isinstance(e, dict) and "path" not in e for e in errors)
    )


def not_acceptable() -> Response:
    body = {
        "errors": [
            {
                "message": f"this endpoint answers {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON}; "
                "the Accept header allows neither",
                "extensions": {"code": "NOT_ACCEPTABLE"},
            }
        ]
    }
    return Response(orjson.dumps(body), status_code=406, media_type=APPLICATION_JSON)


def negotiated(response: Response, media: str) -> Response:
    """The response with the negotiated media type, when it is a JSON one (GraphiQL's HTML stays HTML)."""
    if media != APPLICATION_JSON and response.headers.get("content-type", "").startswith(APPLICATION_JSON):
        response.headers["content-type"] = media
    return response
