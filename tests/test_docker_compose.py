"""docker-compose.yml runs the services of DESIGN.md with commands that exist in this repository."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"postgres", "redis", "web", "scorer", "maintenance", "gpu-worker", "beat"}
CELERY_WORKERS = {"scorer": "podium", "maintenance": "podium", "gpu-worker": "workers.celery_app"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _module_file(module: str) -> Path | None:
    """The source file of a dotted module of this repository (platform/ is a source root)."""
    parts = module.split(".")
    for root in (ROOT / "platform", ROOT):
        base = root.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _commands(service: dict) -> list[list[str]]:
    command = service["command"]
    argv = command if isinstance(command, list) else shlex.split(command)
    if argv[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in re.split(r"\s*&&\s*", argv[2].strip())]
    return [argv]


def _check_program(argv: list[str]) -> str:
    """The repository file the command runs; fails when it does not exist."""
    program = argv[0]
    if program == "gunicorn":
        if "--config" in argv:
            config = argv[argv.index("--config") + 1]
            assert config.startswith("python:"), f"gunicorn --config {config}: use python:<module>"
            assert _module_file(config.removeprefix("python:")), (
                f"gunicorn config {config} is not in the repository"
            )
        values = {argv.index(o) + 1 for o in ("--config", "--bind", "--workers", "--timeout") if o in argv}
        target = next(a for i, a in enumerate(argv[1:], 1) if not a.startswith("-") and i not in values)
        module = target.split(":")[0]
        found = _module_file(module)
        assert found, f"gunicorn app module {module} is not in the repository"
        if ":" in target:
            assert re.search(rf"^{target.split(':')[1]}\s*=", found.read_text(), re.M), target
        return str(found)
    if program == "celery":
        app = argv[argv.index("-A") + 1]
        # `celery -A pkg` loads pkg.celery (or pkg itself) and takes its `app`.
        found = _module_file(app + ".celery") or _module_file(app)
        assert found, f"celery app {app} is not in the repository"
        assert re.search(r"^app\s*=", found.read_text(), re.M), f"{found} defines no `app`"
        return str(found)
    if program in ("python", "python3"):
        if argv[1] == "-m":
            found = _module_file(argv[2])
            assert found, argv
            return str(found)
        script = ROOT / argv[1]
        assert script.is_file(), f"{argv[1]} is not in the repository"
        if argv[2:3] and script.name == "manage.py":
            command = argv[2]
            builtin = importlib.util.find_spec(f"django.core.management.commands.{command}")
            ours = list((ROOT / "platform").glob(f"podium/*/management/commands/{command}.py"))
            assert builtin or ours, f"manage.py has no command {command}"
        return str(script)
    if program.startswith("redis-"):
        return program  # the official image's own program
    raise AssertionError(f"unknown program {program!r} in {argv}")


def test_every_service_is_there(compose):
    assert SERVICES <= set(compose["services"])


def test_every_built_service_has_a_real_command_and_context(compose):
    for name, service in compose["services"].items():
        if "build" not in service:
            assert "image" in service, name
            continue
        build = service["build"]
        context = ROOT / (build["context"] if isinstance(build, dict) else build)
        assert context.is_dir(), f"{name}: build context {context} is missing"
        dockerfile = context / (
            build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
        )
        assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"
        assert "command" in service, f"{name} has no command"
        for argv in _commands(service):
            _check_program(argv)


def test_commands_match_the_architecture(compose):
    services = compose["services"]

    def argv(name):
        return [a for cmd in _commands(services[name]) for a in cmd]

    web = argv("web")
    assert "gunicorn" in web and "podium.wsgi:application" in web
    scorer = argv("scorer")
    assert scorer[:5] == ["celery", "-A", "podium", "worker", "-Q"] and scorer[5] == "scoring"
    gpu = argv("gpu-worker")
    assert gpu[:5] == ["celery", "-A", "workers.celery_app", "worker", "-Q"] and gpu[5] == "gpu,cpu"
    assert argv("beat")[:4] == ["celery", "-A", "podium", "beat"]
    devices = services["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    # The trainer never touches the database (DESIGN.md): no DATABASE_URL for it.
    assert "DATABASE_URL" not in services["gpu-worker"]["environment"]
    for name in ("web", "scorer", "maintenance", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:")
    # web and scorer share the storage that holds answer keys and predictions: an object
    # store over the network, not a local volume (which would tie them to one host).
    for name in ("web", "scorer", "maintenance"):
        assert "volumes" not in services[name], (
            f"{name} mounts a local volume: media belong in the object store"
        )


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.worker"])
def test_dockerfiles_copy_paths_that_exist(dockerfile):
    text = (ROOT / dockerfile).read_text()
    copies = re.findall(r"^COPY\s+(?!--from)(.+)$", text, re.M)
    assert copies
    for line in copies:
        *sources, _dest = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"{dockerfile}: COPY {source} is not in the repository"
    # The compute tier's image pins pyproject's torch; the web image installs none.
    assert ("torch==2.13.0" in text) == (dockerfile == "Dockerfile.worker")


def _argv(service: dict) -> list[str]:
    return [a for cmd in _commands(service) for a in cmd]


def test_the_reaper_has_a_worker_of_its_own(compose):
    """Beat's tasks go to MAINTENANCE_QUEUE; its worker is not the scorer it may have to rescue."""
    from common.protocol import MAINTENANCE_QUEUE, SCORING_QUEUE

    services = compose["services"]
    maintenance, scorer = _argv(services["maintenance"]), _argv(services["scorer"])
    assert maintenance[:5] == ["celery", "-A", "podium", "worker", "-Q"]
    assert maintenance[5] == MAINTENANCE_QUEUE
    assert scorer[5] == SCORING_QUEUE
    assert services["maintenance"]["environment"] == services["beat"]["environment"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_comes_back_by_itself_and_says_whether_it_is_healthy(compose, name):
    service = compose["services"][name]
    assert service.get("restart") in ("always", "unless-stopped"), f"{name} has no restart policy"
    check = service.get("healthcheck")
    assert check and check.get("test"), f"{name} has no healthcheck"
    assert check["test"][0] in ("CMD", "CMD-SHELL"), check
    for key in ("interval", "timeout", "retries"):
        assert key in check, f"{name}'s healthcheck has no {key}"


def test_web_is_checked_over_http_by_its_readiness_probe(compose):
    """GET /readyz answers 503 unless the database and the broker answer (urlopen raises on it)."""
    from django.urls import reverse

    test = " ".join(compose["services"]["web"]["healthcheck"]["test"])
    port = _argv(compose["services"]["web"])
    bind = port[port.index("--bind") + 1].rsplit(":", 1)[1]
    assert f"http://127.0.0.1:{bind}{reverse('readyz')}'" in test


def test_the_deployed_version_reaches_the_status_page(compose):
    for name in ("web", "scorer", "maintenance", "beat"):
        assert "PODIUM_VERSION" in compose["services"][name]["environment"], name


@pytest.mark.parametrize("name", sorted(CELERY_WORKERS))
def test_each_celery_worker_is_pinged_by_its_own_node_name(compose, name):
    """`celery inspect ping` of the node the command names (-n NAME@%h), through the same app."""
    service = compose["services"][name]
    argv = _argv(service)
    node = argv[argv.index("-n") + 1]
    assert node.endswith("@%h"), node
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    check = shlex.split(test[1])
    assert check[:5] == ["celery", "-A", CELERY_WORKERS[name], "inspect", "ping"], check
    assert argv[argv.index("-A") + 1] == CELERY_WORKERS[name]
    _check_program(check)
    # Compose turns $$ into $: the shell expands the container's hostname, as Celery's %h does.
    assert check[check.index("-d") + 1] == node.replace("%h", "$$HOSTNAME")


def _interpolated(value: str) -> str:
    """A compose value with each ${NAME:-default} as its default (what runs when NAME is unset)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_media_live_in_minio_which_the_platform_reaches_over_the_network(compose):
    """MinIO runs, an init service makes the private bucket, and web, scorer and maintenance
    point PODIUM_STORAGE_URL at it with MinIO's own credentials; the URL is one the platform
    parses (podium.storage_url), so the services start."""
    from podium.storage_url import media_storage_from_url

    services = compose["services"]
    minio = services["minio"]
    assert minio["image"].startswith("minio/minio") and minio["command"][:2] == ["server", "/data"]
    assert minio["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    init = services["minio-init"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    script = " ".join(init["command"])
    bucket_made = re.search(r"mc mb --ignore-existing podium/(\S+)", script)
    assert bucket_made and "mc anonymous set none podium/" + bucket_made.group(1) in script
    for name in ("web", "scorer", "maintenance"):
        env = services[name]["environment"]
        storage = media_storage_from_url(_interpolated(env["PODIUM_STORAGE_URL"])).backend
        assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
        assert storage["OPTIONS"]["bucket_name"] == bucket_made.group(1)
        assert storage["OPTIONS"]["endpoint_url"] == "http://minio:9000"
        assert storage["OPTIONS"]["default_acl"] == "private"
        assert _interpolated(env["AWS_ACCESS_KEY_ID"]) == _interpolated(
            minio["environment"]["MINIO_ROOT_USER"]
        )
        assert _interpolated(env["AWS_SECRET_ACCESS_KEY"]) == _interpolated(
            minio["environment"]["MINIO_ROOT_PASSWORD"]
        )
        assert services[name]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    assert len(_interpolated(minio["environment"]["MINIO_ROOT_PASSWORD"])) >= 8  # MinIO refuses shorter
    # web does not serve until the store works and keeps objects private (manage.py storage_check).
    web = [a for cmd in _commands(services["web"]) for a in cmd]
    assert web.index("storage_check") < web.index("gunicorn")
    # The trainer has no storage credentials: it fetches and uploads through the API only.
    assert not {"PODIUM_STORAGE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(
        services["gpu-worker"]["environment"]
    )
