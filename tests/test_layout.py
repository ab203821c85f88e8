"""The layout contracts of DESIGN.md that a refactor could silently break."""

import importlib
import os
import platform
import subprocess
import sys
from pathlib import Path

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


def test_spec_imports_without_torch():
    code = "import sys, workers.spec; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_import_boundaries_of_design_md():
    checker = ROOT.parent / "shared" / "tools" / "check_boundaries.py"
    if not checker.exists():
        pytest.skip("shared/tools/check_boundaries.py is not beside this checkout")
    out = subprocess.run([sys.executable, str(checker), str(ROOT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


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
