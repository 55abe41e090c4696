"""Regenerate dashboards/callscribe.json (run from the repository root:
``python infra/grafana/build_dashboard.py``). Panels query only the documented views."""

from __future__ import annotations

import json
from pathlib import Path

DS = {"type": "grafana-postgresql-datasource", "uid": "callscribe-pg"}

PANELS = [
    (
        "Backlog by source",
        "table",
        0,
        0,
        12,
        8,
        "SELECT source, jobs_queued, jobs_running, audio_hours_queued, audio_hours_running, "
        "oldest_queued_at FROM v_backlog ORDER BY audio_hours_queued DESC",
        "table",
    ),
    (
        "Cost and savings in range",
        "stat",
        12,
        0,
        12,
        8,
        'SELECT coalesce(sum(cost_usd), 0) AS "cost USD", '
        'coalesce(sum(reference_cost_usd) - sum(cost_usd), 0) AS "saved vs reference API USD", '
        'coalesce(sum(audio_hours), 0) AS "audio hours" '
        "FROM v_cost_per_audio_hour WHERE $__timeFilter(hour)",
        "table",
    ),
    (
        "Throughput (audio hours per hour)",
        "timeseries",
        0,
        8,
        12,
        9,
        'SELECT hour AS time, audio_hours AS "audio hours", device_hours AS "device hours", '
        'realtime_factor AS "realtime factor" FROM v_throughput_hourly '
        "WHERE $__timeFilter(hour) ORDER BY 1",
        "time_series",
    ),
    (
        "Cost per audio hour vs reference API",
        "timeseries",
        12,
        8,
        12,
        9,
        'SELECT hour AS time, cost_per_audio_hour AS "callscribe USD/audio h", '
        'reference_usd_per_audio_hour AS "reference API USD/audio h" '
        "FROM v_cost_per_audio_hour WHERE $__timeFilter(hour) ORDER BY 1",
        "time_series",
    ),
    (
        "Failures by reason",
        "table",
        0,
        17,
        12,
        9,
        "SELECT reason, sum(recordings) AS recordings, max(last_failed_at) AS last_failed_at "
        "FROM v_failures_by_reason GROUP BY reason ORDER BY 2 DESC LIMIT 25",
        "table",
    ),
    (
        "Worker utilization (share of each hour busy)",
        "timeseries",
        12,
        17,
        12,
        9,
        "SELECT hour AS time, worker AS metric, utilization FROM v_worker_utilization "
        "WHERE $__timeFilter(hour) ORDER BY 1",
        "time_series",
    ),
    (
        "Runs",
        "table",
        0,
        26,
        24,
        9,
        "SELECT run_id, kind, source, started_at, finished_at, discovered, new, changed, "
        "recordings_done, recordings_failed, audio_hours, cost_usd FROM v_runs "
        "ORDER BY started_at DESC LIMIT 50",
        "table",
    ),
    (
        "Cost by queue",
        "table",
        0,
        35,
        12,
        9,
        "SELECT coalesce(queue, '(none)') AS queue, sum(audio_hours) AS \"audio hours\", "
        'sum(cost_usd) AS "cost USD", CASE WHEN sum(audio_hours) > 0 '
        'THEN sum(cost_usd) / sum(audio_hours) END AS "USD/audio h", '
        "sum(recordings) AS recordings FROM v_cost_by_queue WHERE $__timeFilter(day) "
        "GROUP BY 1 ORDER BY 3 DESC LIMIT 50",
        "table",
    ),
    (
        "Cost by agent",
        "table",
        12,
        35,
        12,
        9,
        "SELECT coalesce(agent, '(none)') AS agent, coalesce(queue, '(none)') AS queue, "
        'sum(audio_hours) AS "audio hours", sum(cost_usd) AS "cost USD", '
        "sum(recordings) AS recordings FROM v_cost_by_queue WHERE $__timeFilter(day) "
        "GROUP BY 1, 2 ORDER BY 4 DESC LIMIT 50",
        "table",
    ),
    (
        "Talk ratio and overtalk by queue",
        "table",
        0,
        44,
        12,
        9,
        "SELECT coalesce(queue, '(none)') AS queue, count(*) AS calls, "
        'avg(talk_ratio) AS "talk ratio (agent/customer)", '
        '100 * sum(overtalk_s) / nullif(sum(duration_s), 0) AS "overtalk %", '
        'avg(overtalk_count) AS "overtalks per call", '
        'avg(customer_interruptions) AS "customer interruptions per call", '
        'avg(hold_s) AS "hold s per call", avg(customer_first_wait_s) AS "first wait s" '
        "FROM v_call_metrics WHERE channels = 2 AND $__timeFilter(call_time) "
        "GROUP BY 1 ORDER BY 2 DESC LIMIT 50",
        "table",
    ),
    (
        "Call metrics by agent",
        "table",
        0,
        53,
        24,
        9,
        "SELECT coalesce(agent, '(none)') AS agent, coalesce(queue, '(none)') AS queue, "
        'count(*) AS calls, avg(talk_ratio) AS "talk ratio (agent/customer)", '
        '100 * sum(overtalk_s) / nullif(sum(duration_s), 0) AS "overtalk %", '
        'avg(agent_interruptions) AS "agent interruptions per call", '
        'avg(agent_response_gap_s) AS "response gap s", avg(agent_wpm) AS "agent wpm" '
        "FROM v_call_metrics WHERE channels = 2 AND $__timeFilter(call_time) "
        "GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 50",
        "table",
    ),
    (
        "Talk ratio and overtalk by day",
        "timeseries",
        12,
        44,
        12,
        9,
        "SELECT date_trunc('day', call_time) AS time, "
        'avg(talk_ratio) AS "talk ratio (agent/customer)", '
        '100 * sum(overtalk_s) / nullif(sum(duration_s), 0) AS "overtalk %" '
        "FROM v_call_metrics WHERE channels = 2 AND $__timeFilter(call_time) "
        "GROUP BY 1 ORDER BY 1",
        "time_series",
    ),
    (
        "Topics over time (calls per day)",
        "timeseries",
        0,
        62,
        24,
        9,
        "SELECT date_trunc('day', call_time) AS time, coalesce(topic, '(unassigned)') AS metric, "
        "count(*) AS calls FROM v_call_insights WHERE $__timeFilter(call_time) "
        "GROUP BY 1, 2 ORDER BY 1",
        "time_series",
    ),
    (
        "Customer sentiment by queue",
        "table",
        0,
        71,
        12,
        9,
        "SELECT coalesce(queue, '(none)') AS queue, count(*) AS calls, "
        'avg(customer_sentiment) AS "mean sentiment", '
        'avg(sentiment_end - sentiment_start) AS "change start to end", '
        '100.0 * avg(CASE WHEN customer_sentiment < -0.25 THEN 1 ELSE 0 END) AS "unhappy %" '
        "FROM v_call_insights WHERE $__timeFilter(call_time) "
        "GROUP BY 1 ORDER BY 2 DESC LIMIT 50",
        "table",
    ),
    (
        "Customer sentiment by agent",
        "table",
        12,
        71,
        12,
        9,
        "SELECT coalesce(agent, '(none)') AS agent, count(*) AS calls, "
        'avg(customer_sentiment) AS "mean sentiment", '
        'avg(sentiment_end - sentiment_start) AS "change start to end", '
        '100.0 * avg(CASE WHEN customer_sentiment < -0.25 THEN 1 ELSE 0 END) AS "unhappy %" '
        "FROM v_call_insights WHERE $__timeFilter(call_time) "
        "GROUP BY 1 ORDER BY 2 DESC LIMIT 50",
        "table",
    ),
]


def panel(index: int, spec: tuple) -> dict:
    title, kind, x, y, w, h, sql, fmt = spec
    return {
        "id": index + 1,
        "title": title,
        "type": kind,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [
            {
                "refId": "A",
                "datasource": DS,
                "editorMode": "code",
                "format": fmt,
                "rawQuery": True,
                "rawSql": sql,
            }
        ],
    }


def dashboard() -> dict:
    return {
        "uid": "callscribe",
        "title": "callscribe",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "1m",
        "tags": ["callscribe"],
        "panels": [panel(i, spec) for i, spec in enumerate(PANELS)],
    }


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "dashboards" / "callscribe.json"
    out.write_text(json.dumps(dashboard(), indent=2) + "\n")
    print(f"wrote {out}")
