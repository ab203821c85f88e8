"""The layout contracts of DESIGN.md that a refactor could silently break."""

import importlib
import os
import platform
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_platform_folder_is_not_a_package():
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_stdlib_platform_module_still_works():
    # With platform/ on sys.path, `import platform` must still be the standard library's.
    assert hasattr(platform, "python_version")
    assert platform.python_version().startswith("3.11")
    out = subprocess.run(
        [sys.executable, "-c", "import platform, podium; print(platform.system())"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'platform'}{os.pathsep}{ROOT}"},
    )
    assert out.stdout.strip() == platform.system()


@pytest.mark.parametrize("module", ["datasets", "podium_client", "workers.spec"])
def test_django_free_packages_import_without_django(module):
    code = f"import sys, {module}; assert 'django' not in sys.modules, sorted(m for m in sys.modules if m.startswith('django'))"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("module", ["workers.spec", "workers.ablations"])
def test_what_the_web_tier_imports_of_workers_imports_without_torch(module):
    code = f"import sys, {module}; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _importlinter() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["importlinter"]


def test_import_contracts_are_kept():
    """The contracts in pyproject.toml (docs/architecture.md, "Tiers and layers")."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_sanctioned_upward_imports_close_no_cycle():
    """The layers contract leaves a few upward calls out; none of them may close a cycle of modules."""
    config = _importlinter()
    graph = grimp.build_graph(*config["root_packages"])
    sanctioned = {line for contract in config["contracts"] for line in contract.get("ignore_imports", [])}
    assert sanctioned, "no sanctioned imports found: the contracts changed shape"
    for line in sorted(sanctioned):
        importer, imported = (part.strip() for part in line.split("->"))
        if imported.split(".")[0] not in config["root_packages"]:
            continue  # an allowed third-party import (common.transports -> kombu) closes no cycle of ours
        assert graph.direct_import_exists(importer=importer, imported=imported), f"stale exception: {line}"
        back = graph.find_shortest_chain(importer=imported, imported=importer)
        assert back is None, f"{line} closes a cycle: {' -> '.join(back)} -> {imported}"


def test_services_in_use_when_required(settings):
    """In CI (PODIUM_REQUIRE_SERVICES=1) the suite must really talk to PostgreSQL and Redis."""
    if os.environ.get("PODIUM_REQUIRE_SERVICES") != "1":
        pytest.skip("only meaningful under PODIUM_REQUIRE_SERVICES=1")
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    import redis

    assert redis.Redis.from_url(settings.CELERY_BROKER_URL).ping()


def test_importable_everywhere():
    for name in ["podium.settings", "podium.urls"]:
        importlib.import_module(name)
