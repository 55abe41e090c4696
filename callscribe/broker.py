"""The Celery app, configured from the settings. Importing this module loads no model and
no CUDA library: the scheduler uses it to send tasks by name."""

from __future__ import annotations

import ssl
from typing import Any

from celery import Celery

from callscribe.errors import ConfigurationError
from callscribe.settings import Settings

TRANSCRIBE_TASK = "callscribe.transcribe_job"
RECONCILE_TASK = "callscribe.reconcile"
SCAN_TASK = "callscribe.scan"


def broker_url(settings: Settings) -> str:
    """The broker URL (a secret: never log it)."""
    if settings.broker_url is None:
        raise ConfigurationError(
            "no broker configured: set CALLSCRIBE_BROKER_URL (e.g. redis://127.0.0.1:6379/0)"
        )
    return settings.broker_url.get_secret_value()


def celery_config(settings: Settings) -> dict[str, Any]:
    """Every Celery setting callscribe relies on; ``docs/operations.md`` explains each."""
    url = broker_url(settings)
    config: dict[str, Any] = {
        "broker_url": url,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True,
        "task_acks_on_failure_or_timeout": True,
        "task_reject_on_worker_lost": False,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": settings.jobs.soft_time_limit_s,
        "task_time_limit": settings.queue.time_limit_s,
        "broker_transport_options": {"visibility_timeout": settings.queue.visibility_timeout_s},
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": settings.queue.name,
        "worker_proc_alive_timeout": settings.model.load_timeout_s,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "beat_schedule": beat_schedule(settings),
    }
    if url.startswith("rediss://"):
        tls = {
            "ssl_cert_reqs": ssl.CERT_REQUIRED,
            "ssl_ca_certs": settings.queue.broker_ssl_ca_certs,
        }
        config["broker_use_ssl"] = tls
    return config


def redis_client(url: str, settings: Settings) -> Any:
    """A Redis client for ``url`` (a secret: never log it), certificates verified on
    ``rediss://`` as the broker's are; short timeouts, so that a Redis that is down is an
    error at once, not a hung request."""
    import redis

    options: dict[str, Any] = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
    if url.startswith("rediss://"):
        options |= {
            "ssl_cert_reqs": "required",
            "ssl_ca_certs": settings.queue.broker_ssl_ca_certs,
        }
    return redis.Redis.from_url(url, **options)


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """The periodic reconciler plus one scan per configured source and cron expression."""
    from celery.schedules import crontab

    schedule: dict[str, dict[str, Any]] = {
        "reconcile": {
            "task": RECONCILE_TASK,
            "schedule": settings.jobs.reconcile_interval_s,
            "options": {"queue": settings.queue.name},
        },
    }
    for source, expression in settings.schedules.items():
        schedule[f"scan {source}"] = {
            "task": SCAN_TASK,
            "args": [source],
            "schedule": crontab(*expression.split()),
            "options": {"queue": settings.queue.name},
        }
    return schedule


def make_celery(settings: Settings) -> Celery:
    """A Celery app for these settings (not the global default app)."""
    app = Celery("callscribe", set_as_current=False)
    app.conf.update(celery_config(settings))
    return app
