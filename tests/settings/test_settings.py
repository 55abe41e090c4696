from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from callscribe.settings import Settings, configuration_table, environment_for, load_settings


def test_defaults_are_embedded() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite:///./callscribe.db"
    assert settings.broker_url is None
    assert settings.vad.window_max_s == 30
    assert settings.segments.speaker_for(0, 2) == "agent"
    assert settings.segments.speaker_for(1, 2) == "customer"
    assert settings.segments.speaker_for(0, 1) == "agent"
    assert settings.segments.speaker_for(3, 4) == "channel3"


def test_file_then_env_then_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "callscribe.toml"
    config.write_text(
        '[callscribe]\ndatabase_url = "sqlite:///file.db"\n'
        '[callscribe.model]\nname = "from-file"\ndevice = "cpu"\n'
        '[callscribe.decode]\nbeam_size = 2\nlanguage = "de"\n'
    )
    monkeypatch.setenv("CALLSCRIBE_DECODE__BEAM_SIZE", "3")
    monkeypatch.setenv("CALLSCRIBE_SEGMENTS__SPEAKER_LABELS", '["caller", "rep"]')
    settings = load_settings(config, decode={"language": "fr"}, model={"name": None})
    assert settings.model.name == "from-file"  # file only
    assert settings.decode.beam_size == 3  # env beats file
    assert settings.decode.language == "fr"  # explicit override beats both
    assert settings.segments.speaker_labels == ("caller", "rep")
    assert settings.model.device == "cpu" and settings.database_url == "sqlite:///file.db"


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSCRIBE_STORAGE__AWS_SECRET_ACCESS_KEY", "very-secret")
    monkeypatch.setenv("CALLSCRIBE_DATABASE_URL", "postgresql://u:hunter2@db/x")
    settings = load_settings()
    shown = repr(settings) + str(settings.redacted())
    assert "very-secret" not in shown
    assert "hunter2" not in shown
    assert settings.storage.aws_secret_access_key is not None
    assert settings.storage.aws_secret_access_key.get_secret_value() == "very-secret"


def test_invalid_values_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Settings(vad={"window_max_s": 45})
    with pytest.raises(ValidationError):
        Settings(exports={"formats": ["json", "docx"]})
    with pytest.raises(ValidationError):
        Settings(no_such_setting=1)  # type: ignore[call-arg]


def test_celery_config_is_json_only_with_ordered_limits_and_tls() -> None:
    import ssl

    from callscribe.broker import celery_config

    conf = celery_config(
        Settings(
            broker_url="rediss://:pw@redis.example:6380/0",
            queue={"broker_ssl_ca_certs": "/etc/ssl/ca.pem"},
        )
    )
    assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
    assert conf["task_acks_late"] and conf["worker_prefetch_multiplier"] == 1
    assert conf["worker_cancel_long_running_tasks_on_connection_loss"]
    assert (
        conf["task_soft_time_limit"]
        < conf["task_time_limit"]
        < conf["broker_transport_options"]["visibility_timeout"]
    )
    assert conf["broker_use_ssl"] == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_ca_certs": "/etc/ssl/ca.pem",
    }
    with pytest.raises(ValidationError):
        Settings(jobs={"soft_time_limit_s": 100}, queue={"time_limit_s": 90})
    with pytest.raises(ValidationError):
        Settings(jobs={"heartbeat_s": 60, "lease_s": 30})


def test_broker_password_is_not_in_repr() -> None:
    settings = Settings(broker_url="redis://:hunter2@queue:6379/0")
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.redacted())


def test_sections_come_from_nested_env_and_toml_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[model]\nname = "file-model"\ncompute_type = "int8"\n[jobs]\nmax_attempts = 7\n'
    )
    monkeypatch.setenv("CALLSCRIBE_MODEL__COMPUTE_TYPE", "float16")
    monkeypatch.setenv("CALLSCRIBE_VAD__PACKING", "false")
    monkeypatch.setenv("CALLSCRIBE_COST__DEVICE_PRICES", '{"NVIDIA L4": 0.8}')
    settings = load_settings(config)
    assert settings.model.name == "file-model"  # the file's field survives …
    assert settings.model.compute_type == "float16"  # … beside the environment's
    assert settings.jobs.max_attempts == 7 and settings.vad.packing is False
    assert settings.cost.device_prices == {"NVIDIA L4": 0.8}


def test_environment_for_gives_back_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "database_url": "sqlite:///x.db",
        "broker_url": "redis://h:6379/3",
        "model": {"name": "tiny.en", "cpu_threads": 2},
        "segments": {"speaker_labels": ["caller", "rep"]},
        "redaction": {"by_source": {"/calls": "off"}},
        "jobs": {"lease_s": 90.5},
    }
    expected = Settings(**values)  # type: ignore[arg-type]
    for name, value in environment_for(values).items():
        monkeypatch.setenv(name, value)
    assert load_settings() == expected


def test_updated_validates_and_keeps_other_fields() -> None:
    settings = Settings(model={"name": "a", "device": "cpu"})  # type: ignore[arg-type]
    changed = settings.updated(model={"name": "b"}, decode={"language": "es"})
    assert (changed.model.name, changed.model.device, changed.decode.language) == ("b", "cpu", "es")
    assert settings.model.name == "a"  # frozen: the original is untouched
    with pytest.raises(ValidationError):
        settings.updated(decode={"beam_size": 0})
    with pytest.raises(ValidationError):
        settings.model.name = "c"  # type: ignore[misc]


def test_configuration_table_lists_every_section_field() -> None:
    table = configuration_table()
    for name, info in Settings.model_fields.items():
        fields = getattr(info.annotation, "model_fields", None)
        if fields is None:
            assert f"| `{name}` | `CALLSCRIBE_{name.upper()}`" in table
            continue
        for field in fields:
            assert f"| `{name}.{field}` | `CALLSCRIBE_{name.upper()}__{field.upper()}`" in table


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        (
            "CALLSCRIBE_MODEL",
            "/models/x",
            "CALLSCRIBE_MODEL is a section, not a setting: set its "
            "fields, e.g. CALLSCRIBE_MODEL__NAME=…",
        ),
        (
            "CALLSCRIBE_MODEL__NAMEX",
            "x",
            "unknown setting CALLSCRIBE_MODEL__NAMEX: model has the fields CALLSCRIBE_MODEL__NAME,",
        ),
        ("CALLSCRIBE_FOO", "1", "unknown setting CALLSCRIBE_FOO: known are CALLSCRIBE_BROKER_URL"),
        ("CALLSCRIBE_NOPE__NAME", "1", "unknown setting CALLSCRIBE_NOPE__NAME"),
    ],
)
def test_a_wrong_variable_name_is_one_clear_line(variable: str, value: str, says: str) -> None:
    from callscribe.settings import SettingError, check_environment

    with pytest.raises(SettingError) as raised:
        check_environment({variable: value, "CALLSCRIBE_DATABASE_URL": "sqlite://"})
    assert str(raised.value).startswith(says)
    assert "\n" not in str(raised.value)


def test_known_variables_and_other_callscribe_variables_pass() -> None:
    from callscribe.settings import check_environment

    check_environment(
        {
            "CALLSCRIBE_MODEL__NAME": "x",
            "CALLSCRIBE_DATABASE_URL": "sqlite://",
            "CALLSCRIBE_DASHBOARD_PASSWORD": "p",
            "PATH": "/bin",
        }
    )


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"CALLSCRIBE_MODEL": "/models/x"}, "error: CALLSCRIBE_MODEL is a section, not a setting"),
        (
            {"CALLSCRIBE_DECODE__BEAM_SIZE": "abc"},
            "error: invalid setting decode.beam_size (CALLSCRIBE_DECODE__BEAM_SIZE): "
            "Input should be",
        ),
        (
            {"CALLSCRIBE_SCHEDULES": "not json"},
            "error: invalid setting schedules (CALLSCRIBE_SCHEDULES): its value must be JSON",
        ),
        ({"CALLSCRIBE_CONFIG_FILE": "/no/such/file.toml"}, "error: cannot read the settings file"),
    ],
)
def test_the_cli_says_one_line_and_exits_2(
    env: dict[str, str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from callscribe.cli import app

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["status", "--database-url", f"sqlite:///{tmp_path / 'x.db'}"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith(says), result.output
    assert "Traceback" not in result.output


def test_a_renamed_setting_still_works_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``execution.workers`` became ``execution.jobs_in_flight`` (issue 21): the old name,
    as a value or a variable, still sets it, and says so once, in one line."""
    from callscribe.settings import check_environment, sections

    monkeypatch.setattr(sections, "_WARNED", set())
    with caplog.at_level("WARNING", logger="callscribe.settings"):
        assert Settings(execution={"workers": 3}).execution.jobs_in_flight == 3
        monkeypatch.setenv("CALLSCRIBE_EXECUTION__WORKERS", "4")
        check_environment()
        assert Settings().execution.jobs_in_flight == 4
        assert Settings(execution={"jobs_in_flight": 5}).execution.jobs_in_flight == 5
    warned = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert warned == [
        "setting execution.workers is deprecated: it is execution.jobs_in_flight now "
        "(CALLSCRIBE_EXECUTION__JOBS_IN_FLIGHT)"
    ]
    with pytest.raises(ValueError, match="jobs_in_flight"):
        Settings(execution={"workers": 0})
