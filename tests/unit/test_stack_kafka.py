"""Kafka node identity: one cluster id per state directory, fixed to the broker count it was made for."""

from __future__ import annotations

from pathlib import Path

import pytest

from floodwall.errors import StackError
from floodwall.settings import load_settings
from floodwall.stack import kafka
from floodwall.stack.config import StackSettings
from floodwall.stack.layout import Layout


def layout(tmp_path: Path, **overrides: object) -> Layout:
    return Layout(load_settings(StackSettings, {"state_dir": tmp_path, **overrides}))


def test_cluster_id_is_made_once_and_kept(tmp_path: Path) -> None:
    first = kafka.cluster_id(layout(tmp_path))
    assert kafka.cluster_id(layout(tmp_path)) == first
    assert len(first) == 22 and not first.startswith("-")  # Kafka's Uuid text form


def test_storage_made_for_one_broker_refuses_three(tmp_path: Path) -> None:
    kafka.cluster_id(layout(tmp_path))
    with pytest.raises(StackError, match=r"for 1 broker\(s\), not 3 \(setting brokers\)"):
        kafka.cluster_id(layout(tmp_path, brokers=3))


def test_missing_kafka_install_names_the_setting_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"not installed in .* \(setting kafka_lib_dir\); run `make setup`"):
        kafka.check_installed(tmp_path)
