"""The compose file encodes operational decisions; check them (no Docker engine here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_services_present() -> None:
    services = _compose()["services"]
    assert {
        "postgres",
        "redis",
        "minio",
        "migrate",
        "worker",
        "scheduler",
        "flower",
        "grafana",
    } <= set(services)


def test_redis_keeps_messages() -> None:
    command = " ".join(_compose()["services"]["redis"]["command"])
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command


def test_worker_reserves_a_gpu_and_waits_for_migrations() -> None:
    worker = _compose()["services"]["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"] and devices[0]["driver"] == "nvidia"
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["command"][:1] == ["worker"]
    migrate = " ".join(_compose()["services"]["migrate"]["entrypoint"])
    assert "callscribe db upgrade" in migrate and "dashboard-user grafana" in migrate


def test_grafana_is_provisioned_with_the_read_only_login() -> None:
    grafana = _compose()["services"]["grafana"]
    assert grafana["environment"]["CALLSCRIBE_DASHBOARD_USER"] == "grafana"
    mounts = " ".join(grafana["volumes"])
    assert "infra/grafana/provisioning" in mounts and "infra/grafana/dashboards" in mounts


def test_no_secret_literals_in_worker_env() -> None:
    env = _compose()["services"]["worker"]["environment"]
    assert env["CALLSCRIBE_STORAGE__AWS_SECRET_ACCESS_KEY"].startswith("${")


def test_redis_requires_a_password_everywhere() -> None:
    """Issue 10, item 12: the queue is an authority over workers; compose refuses to start
    without REDIS_PASSWORD and every client authenticates."""
    compose = _compose()
    redis = compose["services"]["redis"]
    assert "--requirepass ${REDIS_PASSWORD:?set REDIS_PASSWORD}" in " ".join(redis["command"])
    assert redis["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")
    broker = compose["services"]["worker"]["environment"]["CALLSCRIBE_BROKER_URL"]
    assert broker.startswith("redis://:${REDIS_PASSWORD:?")
    assert "redis://:${REDIS_PASSWORD:?" in " ".join(compose["services"]["flower"]["command"])
