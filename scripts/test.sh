#!/usr/bin/env bash
# Lint, type-check and run every test tier. The integration tests start their own real stack
# (broker, etcd, 3 Patroni/PostgreSQL nodes, HAProxy, Prometheus) on free ports and remove it after.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
# floodwall/ links the role folders in (floodwall/producers -> ../producers): one name per module.
"$VENV/bin/mypy" floodwall tests
exec "$VENV/bin/pytest" --durations=25 "$@"
