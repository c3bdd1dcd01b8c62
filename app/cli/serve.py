"""followup serve"""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click
import uvicorn

from app.cli.context import CliContext, pass_cli
from app.settings import get_settings

# Listening on every interface: this machine reaches the server on its loopback address.
WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def served_base_url(host: str, port: int) -> str:
    """The address of the server that ``--host``/``--port`` start: the links' default.

    A wildcard host gives the loopback address, right on this machine only: a server that
    other machines reach (or that sits behind a proxy) needs BASE_URL.
    """
    host = WILDCARD_HOSTS.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{port}"


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus the application's own loggers (``app.*``) on stderr."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["app"] = {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    config["handlers"]["app"] = {"class": "logging.StreamHandler", "formatter": "app",
                                 "stream": "ext://sys.stderr"}
    config["loggers"]["app"] = {"handlers": ["app"], "level": level.upper(), "propagate": False}
    return config


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROC_PREFIX = "followup-metrics-"


def metrics_directory(workers: int) -> str | None:
    """Where several workers keep their metrics (prometheus-client's multiprocess mode).

    A new private directory (mode 0700) at each start, so no count of an earlier server
    is ever added in, set in the environment before any worker starts and removed when
    this process exits; those of servers that died without removing theirs go at the
    next start. An inherited PROMETHEUS_MULTIPROC_DIR is dropped: it might hold another
    server's files. One worker is this process, which counts alone, in memory (and
    uvicorn ends it by its signal, so nothing would be removed at exit).
    """
    os.environ.pop(MULTIPROC_ENV, None)
    if workers == 1:
        return None
    remove_dead_servers_directories(tempfile.gettempdir())
    path = tempfile.mkdtemp(prefix=f"{MULTIPROC_PREFIX}{os.getpid()}-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    os.environ[MULTIPROC_ENV] = path
    return path


def remove_dead_servers_directories(parent: str) -> None:
    for entry in Path(parent).glob(f"{MULTIPROC_PREFIX}*-*"):
        pid = entry.name.removeprefix(MULTIPROC_PREFIX).split("-", 1)[0]
        if pid.isdigit() and int(pid) > 0 and not _running(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@pass_cli
def serve(ctx: CliContext, host: str, port: int, workers: int) -> None:
    """Serve the API and web pages with uvicorn.

    Links in calendar feeds and emails start with BASE_URL; when it is not set, with the
    address served here (http://HOST:PORT).
    """
    settings = ctx.settings  # bad settings stop here, in one line, not in each worker
    if "base_url" not in settings.model_fields_set:
        base_url = served_base_url(host, port)
        # The app factory reads its settings from the environment, in this process and
        # in each worker process uvicorn starts.
        os.environ["BASE_URL"] = base_url
        get_settings.cache_clear()
        hint = " (set BASE_URL to the address users reach)" if host in WILDCARD_HOSTS else ""
        click.echo(f"BASE_URL is not set: links point to {base_url}{hint}", err=True)
    if settings.metrics_enabled:
        metrics_directory(workers)
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
