#!/usr/bin/env bash
# Lint, type-check and run every test tier. The integration tests start their own real stack
# (broker, etcd, 3 Patroni/PostgreSQL nodes, HAProxy, Prometheus) on free ports and remove it after.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy" floodwall producers consumers autoscaler schemas loadgen tests
exec "$VENV/bin/pytest" --durations=25 "$@"
