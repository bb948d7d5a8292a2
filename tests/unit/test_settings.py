"""Layered settings: precedence, validation messages, unknown settings."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from floodwall import settings as settings_module
from floodwall.consumers.config import ConsumerSettings
from floodwall.db.config import DbSettings
from floodwall.errors import ConfigError
from floodwall.settings import load_settings
from floodwall.stack.config import StackSettings


@pytest.fixture(autouse=True)
def _no_floodwall_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("FLOODWALL_"):
            monkeypatch.delenv(key)


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "floodwall.toml"
    path.write_text(text)
    return path


def test_defaults_follow_the_port_map() -> None:
    s = load_settings(StackSettings)
    assert (s.broker_port, s.etcd_client_port, s.pg_base_port, s.haproxy_write_port) == (
        19092,
        12379,
        15441,
        15430,
    )
    assert s.partitions == 12 and s.pg_nodes == 3 and s.synchronous_mode is True


def test_precedence_cli_over_env_over_file_over_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_toml(tmp_path, "[stack]\nbroker_port = 20001\nprometheus_port = 20002\npartitions = 6\n")
    monkeypatch.setenv("FLOODWALL_BROKER_PORT", "20003")
    monkeypatch.setenv("FLOODWALL_PROMETHEUS_PORT", "20004")
    s = load_settings(StackSettings, {"broker_port": "20005"}, cfg)
    assert s.broker_port == 20005  # CLI beats env and file
    assert s.prometheus_port == 20004  # env beats file
    assert s.partitions == 6  # file beats default
    assert s.etcd_client_port == 12379  # default


def test_config_file_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write_toml(tmp_path, "[stack]\npartitions = 3\n[db]\ndatabase_url = 'postgresql://x@h/db'\n")
    monkeypatch.setenv("FLOODWALL_CONFIG", str(cfg))
    assert load_settings(StackSettings).partitions == 3
    assert load_settings(DbSettings).database_url == "postgresql://x@h/db"


def test_bad_value_names_setting_value_source_and_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOODWALL_BROKER_PORT", "70000")
    with pytest.raises(ConfigError) as err:
        load_settings(StackSettings)
    message = str(err.value)
    assert "broker_port" in message and "70000" in message and "FLOODWALL_BROKER_PORT" in message
    assert "less than or equal to 65535" in message
    assert "\n" not in message


def test_non_numeric_from_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"partitions='many' \(from --partitions\)"):
        load_settings(StackSettings, {"partitions": "many"})


def test_unknown_setting_in_file(tmp_path: Path) -> None:
    cfg = write_toml(tmp_path, "[stack]\nbroker_prot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'broker_prot'"):
        load_settings(StackSettings, config_file=cfg)


def test_unknown_section_and_loose_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown section \[stak\]"):
        load_settings(StackSettings, config_file=write_toml(tmp_path, "[stak]\nx = 1\n"))
    with pytest.raises(ConfigError, match="must sit inside a"):
        load_settings(StackSettings, config_file=write_toml(tmp_path, "partitions = 1\n"))


@pytest.fixture
def fresh_warnings(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Capture the loader's warnings, with a fresh "warned once" memory for this test."""
    monkeypatch.setattr(settings_module, "_WARNED", set(), raising=False)  # raising: runs on old code too
    caplog.set_level(logging.WARNING, logger="floodwall.settings")


def settings_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "floodwall.settings"]


def test_misspelt_environment_variable_is_ignored_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fresh_warnings: None
) -> None:
    monkeypatch.setenv("FLOODWALL_BROKER_PROT", "1")
    monkeypatch.setenv("FLOODWALL_PARTITONS", "3")
    s = load_settings(StackSettings)
    assert s.broker_port == 19092 and s.partitions == 12  # ignored, not applied
    (line,) = settings_warnings(caplog)
    assert "\n" not in line
    assert "FLOODWALL_BROKER_PROT (did you mean FLOODWALL_BROKER_PORT?)" in line
    assert "FLOODWALL_PARTITONS (did you mean FLOODWALL_PARTITIONS?)" in line
    load_settings(DbSettings)  # a second settings class of the same command: no second warning
    assert len(settings_warnings(caplog)) == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FLOODWALL_CONSUMERS_METRICS_SERVICE_HOST", "10.96.0.12"),
        ("FLOODWALL_CONSUMERS_METRICS_SERVICE_PORT", "19300"),
        ("FLOODWALL_CONSUMERS_METRICS_SERVICE_PORT_METRICS", "19300"),
        ("FLOODWALL_CONSUMERS_METRICS_PORT", "tcp://10.96.0.12:19300"),
        ("FLOODWALL_METRIC_PORT", "tcp://10.96.0.12:19300"),  # a Service "floodwall-metric"
        ("FLOODWALL_CONSUMERS_METRICS_PORT_19300_TCP", "tcp://10.96.0.12:19300"),
        ("FLOODWALL_CONSUMERS_METRICS_PORT_19300_TCP_PROTO", "tcp"),
        ("FLOODWALL_CONSUMERS_METRICS_PORT_19300_TCP_PORT", "19300"),
        ("FLOODWALL_CONSUMERS_METRICS_PORT_19300_TCP_ADDR", "10.96.0.12"),
        ("FLOODWALL_DNS_PORT_53_UDP_ADDR", "10.96.0.10"),
        ("FLOODWALL_SOMETHING_ELSE_ENTIRELY", "1"),  # nothing like a setting: ignored silently
    ],
)
def test_service_links_and_foreign_variables_are_ignored_silently(
    name: str,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fresh_warnings: None,
) -> None:
    monkeypatch.setenv(name, value)
    assert load_settings(ConsumerSettings).metrics_port == 19300
    assert settings_warnings(caplog) == []


def test_a_misspelt_port_setting_is_still_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fresh_warnings: None
) -> None:
    """Ten settings end in _PORT: only a tcp://… value marks FLOODWALL_X_PORT as a service link."""
    monkeypatch.setenv("FLOODWALL_METRIC_PORT", "9100")
    assert load_settings(ConsumerSettings).metrics_port == 19300
    assert "did you mean FLOODWALL_METRICS_PORT?" in settings_warnings(caplog)[0]


def test_missing_and_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(StackSettings, config_file=tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(StackSettings, config_file=write_toml(tmp_path, "[stack\n"))


def test_ports_must_be_distinct() -> None:
    with pytest.raises(ConfigError, match="both use port 19092"):
        load_settings(StackSettings, {"prometheus_port": 19092})
    # node ranges count too: node 2's PostgreSQL port would collide with the REST base
    with pytest.raises(ConfigError, match="both use port"):
        load_settings(StackSettings, {"pg_base_port": 18440})


def test_patroni_timing_rule() -> None:
    with pytest.raises(ConfigError, match="patroni_loop_wait \\+ 2 x patroni_retry_timeout <= patroni_ttl"):
        load_settings(StackSettings, {"patroni_ttl": 10, "patroni_retry_timeout": 5})


@pytest.mark.parametrize(
    ("name", "value"), [("orders_topic", "bad topic"), ("db_name", "Drop;Table"), ("pg_nodes", "9")]
)
def test_invalid_names_and_counts(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"invalid setting {name}="):
        load_settings(StackSettings, {name: value})


def test_settings_are_frozen() -> None:
    s = load_settings(StackSettings)
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on frozen assignment
        s.broker_port = 1  # type: ignore[misc]
