"""The local Patroni REST API's unsafe endpoints need a generated password (issue 12); the stack's
secrets file gains the new passwords without losing the old ones. The live checks (401 without the
password) are in tests/integration/test_security_stack.py."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from floodwall.errors import StackError
from floodwall.settings import load_settings
from floodwall.stack import render
from floodwall.stack.config import StackSettings
from floodwall.stack.layout import PATRONI_API_USER, Layout
from floodwall.stack.state import load_or_create_secrets

OLD_RELEASE_SECRETS = {"superuser": "su", "replication": "repl", "rewind": "rw", "app": "app"}


def layout(tmp_path: Path) -> Layout:
    return Layout(load_settings(StackSettings, {"state_dir": tmp_path}))


def test_patroni_config_protects_the_unsafe_endpoints_with_the_generated_password(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    pw = load_or_create_secrets(lay)
    for node in lay.nodes:
        config = json.loads(render.render_patroni(lay, node, pw))
        assert config["restapi"]["authentication"] == {
            "username": PATRONI_API_USER,
            "password": pw.patroni_api,
        }
        assert config["postgresql"]["parameters"]["unix_socket_permissions"] == "0700"
    assert len(pw.patroni_api) >= 32 and pw.patroni_api not in {pw.superuser, pw.app, pw.owner}


def test_haproxy_health_checks_use_a_method_patroni_leaves_open(tmp_path: Path) -> None:
    """Patroni's basic auth covers POST/PUT/PATCH/DELETE only: HAProxy's checks must stay OPTIONS/GET."""
    checks = [
        line for line in render.render_haproxy(layout(tmp_path)).splitlines() if "http-check send" in line
    ]
    assert checks and all("meth OPTIONS" in line for line in checks)


def test_an_older_secrets_file_gains_the_new_passwords_and_keeps_the_old(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    lay.secrets_file.write_text(json.dumps(OLD_RELEASE_SECRETS))
    lay.secrets_file.chmod(0o600)
    pw = load_or_create_secrets(lay)
    assert (pw.superuser, pw.replication, pw.rewind, pw.app) == ("su", "repl", "rw", "app")
    assert pw.owner and pw.patroni_api and pw.owner != pw.patroni_api
    stored = json.loads(lay.secrets_file.read_text())
    assert stored == {**OLD_RELEASE_SECRETS, "owner": pw.owner, "patroni_api": pw.patroni_api}
    assert stat.S_IMODE(lay.secrets_file.stat().st_mode) == 0o600
    assert load_or_create_secrets(lay) == pw  # stable from now on


@pytest.mark.parametrize("content", ["not json", "[1, 2]"])
def test_an_unreadable_secrets_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    lay = layout(tmp_path)
    lay.secrets_file.write_text(content)
    with pytest.raises(StackError, match=r"secrets file .* remove it to regenerate"):
        load_or_create_secrets(lay)
