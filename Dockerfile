# Floodwall's container image: the `floodwall` CLI as entry point, run as a non-root numeric user.
# The Helm chart (helm/floodwall) calls it as `floodwall consume`, `floodwall autoscale`,
# `floodwall db migrate` and `floodwall topics create`, with a read-only root filesystem and /tmp as its
# only writable directory.
#
#   docker build -t floodwall:0.1.0 .

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
# Wheels for Floodwall and every dependency of every role, the `all` extra (all ship manylinux wheels: no
# compiler needed).
COPY pyproject.toml README.md ./
COPY floodwall ./floodwall
COPY producers ./producers
COPY consumers ./consumers
COPY autoscaler ./autoscaler
COPY schemas ./schemas
COPY loadgen ./loadgen
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[all]'

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Numeric UID/GID so that Kubernetes can verify runAsNonRoot; the chart's podSecurityContext uses the same.
RUN groupadd --system --gid 10001 floodwall \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/floodwall --create-home \
       --shell /usr/sbin/nologin floodwall
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels 'floodwall[all]' && rm -rf /wheels
USER 10001:10001
WORKDIR /home/floodwall
# Exec form: floodwall is PID 1 and receives SIGTERM itself (the consumer then finishes its batch).
ENTRYPOINT ["floodwall"]
CMD ["--help"]
