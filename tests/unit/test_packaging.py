"""The migrations live in the package (a wheel migrates without the source tree), and the
developers' `alembic` command and the Dockerfile agree with that layout.

The wheel itself is built, installed and run by .ci/wheel-check.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from alembic.config import Config
from alembic.script import ScriptDirectory

from app import migrate

ROOT = Path(__file__).resolve().parents[2]


def test_the_migrations_are_inside_the_package() -> None:
    package = Path(migrate.__file__).resolve().parent
    assert migrate.MIGRATIONS.parent == package
    assert (migrate.MIGRATIONS / "env.py").is_file()
    assert ScriptDirectory.from_config(migrate.alembic_config()).get_current_head() is not None
    assert not (ROOT / "migrations").exists(), "migrations/ moved to app/migrations/"


def test_alembic_ini_points_the_alembic_command_at_the_package_migrations() -> None:
    config = Config(str(ROOT / "alembic.ini"))
    location = config.get_main_option("script_location")
    assert location is not None
    assert Path(location).resolve() == migrate.MIGRATIONS
    ours = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert ScriptDirectory.from_config(config).get_current_head() == ours


def test_alembic_revision_writes_a_dated_file_into_the_package(tmp_path: Path) -> None:
    """`alembic revision -m ...` from the repository root, on a copy of the repository's
    alembic.ini and migrations, so the real folder is left alone."""
    shutil.copy(ROOT / "alembic.ini", tmp_path / "alembic.ini")
    shutil.copytree(migrate.MIGRATIONS, tmp_path / "app" / "migrations",
                    ignore=shutil.ignore_patterns("__pycache__"))
    before = set((tmp_path / "app" / "migrations" / "versions").iterdir())
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "revision", "-m", "add a column"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    added = set((tmp_path / "app" / "migrations" / "versions").iterdir()) - before
    assert len(added) == 1
    (new,) = added
    assert re.fullmatch(r"\d{8}_add_a_column_[0-9a-f]{12}\.py", new.name), new.name
    # Today's date (local time; a day either side of UTC's).
    dated = datetime.strptime(new.name[:8], "%Y%m%d").replace(tzinfo=UTC)
    assert abs(dated - datetime.now(UTC)) < timedelta(days=2)
    text = new.read_text(encoding="utf-8")
    assert f"down_revision: str | None = '{migrate.head_revision()}'" in text


def _dockerignored(path: str) -> bool:
    patterns = [
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    first = path.strip("./").split("/")[0]
    return first in patterns


def test_the_dockerfile_copies_only_what_the_build_context_has() -> None:
    copies = re.findall(r"^COPY (?!--from)(.+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert copies
    for line in copies:
        *sources, _target = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"the Dockerfile copies {source}: not in the repo"
            assert not _dockerignored(source), f"the Dockerfile copies {source}: .dockerignore'd"


def test_the_image_starts_through_the_entrypoint_and_is_healthy_only_when_ready() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY docker/entrypoint.sh /usr/local/bin/followup-entrypoint" in dockerfile
    assert 'ENTRYPOINT ["/bin/sh", "/usr/local/bin/followup-entrypoint"]' in dockerfile
    (healthcheck,) = re.findall(r"^HEALTHCHECK (?:.*\\\n)*.*", dockerfile, re.M)
    assert "/readyz" in healthcheck and "/healthz" not in healthcheck


def test_compose_migrates_once_and_never_writes_demo_data() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert services["migrate"]["command"] == ["followup", "db", "upgrade"]
    for name in ("app", "digest"):
        assert services[name]["environment"]["MIGRATE"] == "0", name
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    for name in ("migrate", "app", "digest"):
        # Production: a default or short SECRET_KEY stops every process of the compose.
        assert services[name]["environment"]["ENVIRONMENT"] == "production", name
    commands = [" ".join(service.get("command", [])) for service in services.values()]
    assert not [command for command in commands if "demo" in command]
    # The quick start never puts demo data into the compose (production) database.
    guide = (ROOT / "docs" / "deployment.md").read_text()
    assert not re.search(r"docker compose (exec|run)[^\n]*demo generate", guide)
