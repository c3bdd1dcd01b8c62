"""followup serve"""

from __future__ import annotations

import copy
import os
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
