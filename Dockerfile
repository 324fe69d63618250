# One image for both julia processes: `julia serve` (the default command, the webhooks) and
# `julia worker` (override the command). Postgres and Redis come from DATABASE_URL / REDIS_URL at run
# time; see docker-compose.yml and docs/deploy.md.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A plain (not editable) install: the wheel carries migrations/ and fixtures/ inside the package
# (pyproject's force-include), so the source tree is not needed at run time.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY julia ./julia
COPY migrations ./migrations
COPY fixtures ./fixtures
RUN pip install . && rm -rf /src

RUN useradd --system --create-home --uid 10001 julia
USER julia
WORKDIR /home/julia

EXPOSE 8000
# Liveness only: /health does no I/O, so a slow database never gets the API restarted.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)"]
CMD ["julia", "serve", "--host", "0.0.0.0", "--port", "8000"]
