"""followup serve"""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
from typing import Any

import click
import uvicorn

from app.cli.context import CliContext, pass_cli


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus the application's own loggers (``app.*``) on stderr."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["app"] = {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    config["handlers"]["app"] = {"class": "logging.StreamHandler", "formatter": "app",
                                 "stream": "ext://sys.stderr"}
    config["loggers"]["app"] = {"handlers": ["app"], "level": level.upper(), "propagate": False}
    return config


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_directory() -> str:
    """A directory for the workers' metrics (prometheus-client's multiprocess mode).

    New and private (mode 0700) at each start, so no count of an earlier server is
    ever added in, and removed when this process exits. Set in the environment before
    any worker starts; an inherited PROMETHEUS_MULTIPROC_DIR is replaced, as it might
    hold another server's files.
    """
    path = tempfile.mkdtemp(prefix="followup-metrics-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    os.environ[MULTIPROC_ENV] = path
    return path


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@pass_cli
def serve(ctx: CliContext, host: str, port: int, workers: int) -> None:
    """Serve the API and web pages with uvicorn."""
    ctx.settings  # noqa: B018 - bad settings stop here, in one line, not in each worker
    if ctx.settings.metrics_enabled:
        metrics_directory()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        # One structured line per request comes from the application (app.requests).
        access_log=False,
        log_config=log_config(ctx.settings.log_level),
    )


COMMANDS = [serve]
