"""The same data as the pages, as JSON under ``/api/`` (login required: 401 without)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from . import data
from .context import RecordingId, current_user, web_context
from .queries import list_calls, search_hits
from .users import User

router = APIRouter(prefix="/api")
Login = Depends(current_user)


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


@router.get("/runs")
def api_runs(request: Request, user: User = Login) -> JSONResponse:
    with web_context(request).factory.begin() as session:
        rows = data.runs(session)
    return JSONResponse(
        jsonable([{**asdict(r), "usd_per_audio_hour": r.usd_per_audio_hour} for r in rows])
    )


@router.get("/calls")
def api_calls(request: Request, user: User = Login) -> JSONResponse:
    _f, number, rows, total = list_calls(request)
    body = {"total": total, "page": number, "calls": [asdict(r) for r in rows]}
    return JSONResponse(jsonable(body))


def _turn(t: data.Turn) -> dict[str, Any]:
    return {
        "speaker": t.speaker,
        "channel": t.channel,
        "start_s": t.start,
        "end_s": t.end,
        "words": [{"start_s": a, "end_s": b, "word": w, "redacted": r} for a, b, w, r in t.words],
    }


@router.get("/calls/{recording_id}")
def api_call(request: Request, recording_id: RecordingId, user: User = Login) -> JSONResponse:
    found = data.call_page(web_context(request).factory, recording_id)
    if found is None:
        return JSONResponse({"error": "no such call"}, status_code=404)
    rec = found.recording
    body = {
        "id": rec.id,
        "key": rec.key,
        "source": found.source,
        "status": str(rec.status),
        "duration_s": rec.duration_s,
        "metadata": found.metadata,
        "metrics": found.metrics,
        "insights": found.insight,
        "questions": [{"start_s": s, "text": t} for s, t, _ in found.questions],
        "turns": [_turn(t) for t in found.turns],
    }
    return JSONResponse(jsonable(body))


@router.get("/search")
def api_search(request: Request, user: User = Login) -> JSONResponse:
    hits = search_hits(request)
    return JSONResponse([{**asdict(h), "snippet": "".join(p for p, _ in h.pieces)} for h in hits])
