from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from callscribe.settings import Settings, load_settings


def test_defaults_are_embedded() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite:///./callscribe.db"
    assert settings.broker_url is None
    assert settings.window_max_seconds == 30
    assert settings.speaker_for(0, 2) == "agent"
    assert settings.speaker_for(1, 2) == "customer"
    assert settings.speaker_for(0, 1) == "agent"
    assert settings.speaker_for(3, 4) == "channel3"


def test_file_then_env_then_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "callscribe.toml"
    config.write_text('[callscribe]\nmodel = "from-file"\nbeam_size = 2\nlanguage = "de"\n')
    monkeypatch.setenv("CALLSCRIBE_BEAM_SIZE", "3")
    monkeypatch.setenv("CALLSCRIBE_SPEAKER_LABELS", '["caller", "rep"]')
    settings = load_settings(config, language="fr", model=None)
    assert settings.model == "from-file"  # file only
    assert settings.beam_size == 3  # env beats file
    assert settings.language == "fr"  # explicit override beats both
    assert settings.speaker_labels == ["caller", "rep"]


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSCRIBE_AWS_SECRET_ACCESS_KEY", "very-secret")
    monkeypatch.setenv("CALLSCRIBE_DATABASE_URL", "postgresql://u:hunter2@db/x")
    settings = load_settings()
    shown = repr(settings) + str(settings.redacted())
    assert "very-secret" not in shown
    assert "hunter2" not in shown
    assert settings.aws_secret_access_key is not None
    assert settings.aws_secret_access_key.get_secret_value() == "very-secret"


def test_invalid_values_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Settings(window_max_seconds=45)
    with pytest.raises(ValidationError):
        Settings(export_formats=["json", "docx"])
    with pytest.raises(ValidationError):
        Settings(no_such_setting=1)  # type: ignore[call-arg]


def test_celery_config_is_json_only_with_ordered_limits_and_tls() -> None:
    import ssl

    from callscribe.broker import celery_config

    conf = celery_config(Settings(broker_url="rediss://:pw@redis.example:6380/0",
                                  broker_ssl_ca_certs="/etc/ssl/ca.pem"))
    assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
    assert conf["task_acks_late"] and conf["worker_prefetch_multiplier"] == 1
    assert conf["worker_cancel_long_running_tasks_on_connection_loss"]
    assert (conf["task_soft_time_limit"] < conf["task_time_limit"]
            < conf["broker_transport_options"]["visibility_timeout"])
    assert conf["broker_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED,
                                      "ssl_ca_certs": "/etc/ssl/ca.pem"}
    with pytest.raises(ValidationError):
        Settings(task_soft_time_limit_s=100, task_time_limit_s=90)
    with pytest.raises(ValidationError):
        Settings(heartbeat_seconds=60, lease_seconds=30)


def test_broker_password_is_not_in_repr() -> None:
    settings = Settings(broker_url="redis://:hunter2@queue:6379/0")
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.redacted())
