# syntax=docker/dockerfile:1
# A small, non-root image of followup: `docker build -t followup .`
# Build stage: the project and its dependencies in a virtualenv (no compilers needed:
# every dependency ships a manylinux wheel). The dependencies are exactly those of the
# runtime lock, checked against its hashes; the project is installed without resolving
# any more of them.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY requirements/runtime.txt ./requirements/
RUN /opt/venv/bin/pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml ./
COPY app ./app
RUN /opt/venv/bin/pip install --no-deps . && /opt/venv/bin/pip check

# Runtime stage: the virtualenv (the installed package carries its migrations, templates
# and static files) and the seed schedules, owned by root and read-only for the service
# user.
# ENVIRONMENT=production: the service refuses to start without a SECRET_KEY of at least
# 32 characters (docs/deployment.md); a throwaway try passes -e ENVIRONMENT=development.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ENVIRONMENT=production \
    DATABASE_URL=sqlite:////data/followup.db
RUN groupadd --system --gid 10001 followup \
    && useradd --system --uid 10001 --gid followup --home-dir /data --shell /usr/sbin/nologin followup \
    && mkdir /data && chown followup:followup /data
COPY --from=build /opt/venv /opt/venv
COPY docker/entrypoint.sh /usr/local/bin/followup-entrypoint
WORKDIR /app
COPY schedules ./schedules
USER followup
EXPOSE 8000
# The entry point migrates the database before a followup command starts (MIGRATE=1, the
# default); with MIGRATE=0 it refuses to start on an unmigrated database instead.
ENTRYPOINT ["/bin/sh", "/usr/local/bin/followup-entrypoint"]
# Healthy means ready: /readyz answers 200 only while the database answers and is at the
# code's revision (an orchestrator's liveness probe uses /healthz: the process is up).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"]
CMD ["followup", "serve", "--host", "0.0.0.0", "--port", "8000"]
