"""The calls list and search as the pages and the API ask for them: query parameters
checked (one line naming a bad one), then ``data``."""

from __future__ import annotations

from fastapi import Request

from . import data
from .context import BadRequest, choice, day, page_number, web_context, whole

MAX_QUERY = 500


def call_filters(request: Request) -> data.CallFilters:
    q = request.query_params
    return data.CallFilters(
        source=q.get("source") or None,
        since=day("since", q.get("since")),
        until=day("until", q.get("until"), end=True),
        queue=q.get("queue") or None,
        agent=q.get("agent") or None,
        status=choice("status", q.get("status"), data.RECORDING_STATUSES),
        topic=whole("topic", q.get("topic")),
        sentiment=choice("sentiment", q.get("sentiment"), data.SENTIMENTS),
    )


def list_calls(request: Request) -> tuple[data.CallFilters, int, list[data.CallRow], int]:
    """(filters, page, rows, total) of the calls the request asks for."""
    ctx = web_context(request)
    f, number = call_filters(request), page_number(request)
    with ctx.factory.begin() as session:
        rows, total = data.calls(
            session,
            f,
            page=number,
            page_size=ctx.settings.web.page_size,
            negative_below=ctx.settings.insights.negative_below,
        )
    return f, number, rows, total


def search_hits(request: Request) -> list[data.SearchHit]:
    """The hits of ``?q=…`` with its filters; none without a query."""
    ctx = web_context(request)
    q = request.query_params
    text = (q.get("q") or "").strip()
    if not text:
        return []
    if len(text) > MAX_QUERY:
        raise BadRequest(f"q must be at most {MAX_QUERY} characters")
    with ctx.factory.begin() as session:
        return data.search_hits(
            session,
            text,
            page=page_number(request),
            page_size=ctx.settings.web.page_size,
            speaker=choice("speaker", q.get("speaker"), ("agent", "customer")),
            source_uri=q.get("source") or None,
            queue=q.get("queue") or None,
            agent=q.get("agent") or None,
            since=day("since", q.get("since")),
            until=day("until", q.get("until"), end=True),
        )
