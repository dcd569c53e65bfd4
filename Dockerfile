# The head-end service image. Built by `docker compose build` (docker-compose.yml: build: .).
#
# Two stages: the first builds wheels for the project and its dependencies, the second installs
# them without compilers or the source tree, so the running image holds only what it runs.

FROM python:3.11-slim AS build
WORKDIR /src
# pyproject.toml names README.md as the package readme: the build needs it.
COPY pyproject.toml README.md ./
COPY headend ./headend
COPY protocols ./protocols
COPY simulators ./simulators
COPY storage ./storage
COPY transports ./transports
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# A system user without a login shell; dialout lets it open RS-485 adapters passed in with
# `devices:` in docker-compose.yml.
RUN groupadd --system headend \
    && useradd --system --gid headend --groups dialout --no-create-home \
       --home-dir /var/lib/headend --shell /usr/sbin/nologin headend \
    && mkdir -p /var/lib/headend /etc/headend \
    && chown headend:headend /var/lib/headend
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels headend \
    && rm -rf /wheels
USER headend
WORKDIR /var/lib/headend
# The durable outbox and the embedded store: readings wait here while a sink is down.
VOLUME /var/lib/headend
EXPOSE 8080
# Healthy only when a client could use the API: `headend healthcheck` connects to the
# container's own address (not loopback), needs /health to report collecting and makes one
# request with the reader token from HEADEND_TOKEN_READER (standard library only; no curl).
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["headend", "healthcheck"]
CMD ["headend", "run", "--config", "/etc/headend/fleet.toml"]
