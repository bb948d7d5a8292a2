#!/usr/bin/env bash
# Idempotent set-up of everything Floodwall's local stack and tests need on a Debian 12 machine:
#   Debian: PostgreSQL 15, Patroni (with etcd support), etcd, HAProxy, Prometheus (+ promtool), kcat,
#           Java 17 and Maven (unless a Java >= 17 and mvn are already on PATH)
#   PyPI:   a virtualenv (.venv) with Floodwall, every role's extra and the dev tools ('.[dev]')
#   Maven:  Apache Kafka's jars (scripts/kafka/pom.xml) into .venv/share/floodwall/kafka/lib
# Safe to re-run: installs only what is missing. Packaged services are not started (policy-rc.d),
# so nothing appears on the standard ports of a machine that already runs its own databases.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(postgresql-15 patroni python3-etcd etcd-server haproxy prometheus kcat)
java_ok() {
    command -v java >/dev/null && java -XshowSettings:properties -version 2>&1 \
        | awk -F'= ' '/java.specification.version/ {exit !($2 + 0 >= 17)}'
}
java_ok || PACKAGES+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || PACKAGES+=(maven)
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "setup: need root (or sudo) to run: apt-get install ${missing[*]}" >&2; exit 1; }
        SUDO=sudo
    fi
    # Keep the packages' own services from starting on their standard ports (5432, 2379, 9090, ...).
    added_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    trap '[ -n "$added_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "setup: Debian packages present (${PACKAGES[*]})"
fi

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "setup: Python >= 3.11 is required ($PYTHON is $("$PYTHON" -V 2>&1))" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
stamp="$VENV/.floodwall-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing Floodwall into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[dev]'
    touch "$stamp"
else
    echo "setup: $VENV is up to date"
fi

# Apache Kafka for the local stack: the pom pins the version; re-fetched only when the pom changes.
KAFKA_LIB="$(cd "$VENV" && pwd)/share/floodwall/kafka/lib"
kafka_stamp="$VENV/share/floodwall/kafka/.installed"
if [ ! -f "$kafka_stamp" ] || [ scripts/kafka/pom.xml -nt "$kafka_stamp" ]; then
    echo "setup: fetching Apache Kafka from Maven Central into $KAFKA_LIB"
    started=$(date +%s)
    rm -rf "$KAFKA_LIB"
    # Maven's own output (terminal escape codes even with -B) goes to a log, shown only on failure.
    maven_log="$VENV/share/floodwall/kafka/maven.log"
    mkdir -p "$(dirname "$maven_log")"
    if ! mvn -q -B -Dstyle.color=never -f scripts/kafka/pom.xml dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIB" >"$maven_log" 2>&1; then
        echo "setup: Maven could not fetch Apache Kafka; the end of $maven_log:" >&2
        tail -n 30 "$maven_log" >&2
        exit 1
    fi
    touch "$kafka_stamp"
    echo "setup: Apache Kafka installed ($(ls "$KAFKA_LIB" | wc -l) jars, $(($(date +%s) - started)) s)"
else
    echo "setup: Apache Kafka is up to date ($KAFKA_LIB)"
fi
echo "setup: done — the CLI is $VENV/bin/floodwall"
