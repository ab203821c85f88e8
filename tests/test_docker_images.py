"""Each image holds what its services import and read at run time.

The list is derived from the code where it can be: the entry modules of each image's
services in docker-compose.yml, the repository packages those import (transitively), and
the repository files that modules anchored at the repository root name. The Dockerfiles'
COPY lines, less what .dockerignore drops, must hold all of it, in the repository's layout.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import shlex
import subprocess
import tomllib
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILES = ("Dockerfile", "Dockerfile.worker")


@cache
def tracked() -> tuple[str, ...]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    return tuple(p for p in out.stdout.split("\0") if p and (ROOT / p).exists())


@cache
def package_folders() -> dict[str, str]:
    """Top-level import name -> the repository folder that holds it (pyproject's package roots)."""
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    out = {}
    for where in find["where"]:
        base = ROOT / where
        for child in sorted(base.iterdir()):
            if (child / "__init__.py").is_file() and any(
                fnmatch.fnmatch(child.name, p) for p in find["include"]
            ):
                # podium lives in platform/, which is not a package itself: the image needs the root.
                out[child.name] = str(child.relative_to(ROOT)) if where == "." else where
    return out


def _sources(folder: str):
    for path in sorted((ROOT / folder).rglob("*.py")):
        if "node_modules" not in path.parts:
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def _imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def packages_needed(entry: set[str]) -> set[str]:
    """The repository packages the entry packages import, transitively."""
    folders = package_folders()
    found, todo = set(), list(entry)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for _, tree in _sources(folders[name]):
            todo.extend(n for n in _imported(tree) if n in folders and n not in found)
    return found


def files_read_at_run_time(packages: set[str]) -> set[str]:
    """Repository entries named by modules that locate files from the repository root
    (settings.BASE_DIR, or a ROOT derived from __file__): those are read from the checkout."""
    top = {p.split("/")[0] for p in tracked()}
    out = set()
    for name in packages:
        for _, tree in _sources(package_folders()[name]):
            anchored = any(
                (isinstance(n, ast.Name) and n.id in ("BASE_DIR", "ROOT"))
                or (isinstance(n, ast.Attribute) and n.attr == "BASE_DIR")
                for n in ast.walk(tree)
            )
            if anchored:
                out.update(
                    n.value
                    for n in ast.walk(tree)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in top
                )
    return out


def _compose_entries() -> dict[str, set[str]]:
    """Dockerfile -> the top-level packages its services' commands start from."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    out: dict[str, set[str]] = {}
    for service in compose["services"].values():
        build = service.get("build")
        if not build:
            continue
        command = service["command"]
        text = command if isinstance(command, str) else shlex.join(command)
        modules = re.findall(r"-A\s+([\w.]+)", text) + re.findall(
            r"gunicorn\s+(?:--config\s+python:[\w.]+\s+)?([\w.]+):", text
        )
        if "manage.py" in text:
            modules.append("podium")
        out.setdefault(build["dockerfile"], set()).update(m.split(".")[0] for m in modules)
    return out


class Image:
    def __init__(self, dockerfile: str):
        self.dockerfile = dockerfile
        self.copied: dict[str, str] = {}  # repository path -> path in the image, relative to WORKDIR
        self.env: dict[str, str] = {}
        workdir = "/"
        text = re.sub(r"\\\n", " ", (ROOT / dockerfile).read_text())
        for line in text.splitlines():
            words = shlex.split(line, comments=True)
            if not words:
                continue
            if words[0] == "FROM":
                self.copied, workdir = {}, "/"  # only the last stage is the image
            elif words[0] == "WORKDIR":
                workdir = words[1]
            elif words[0] == "ENV":
                self.env.update(w.split("=", 1) for w in words[1:] if "=" in w)
            elif words[0] == "COPY" and not any(w.startswith("--from") for w in words):
                *sources, dest = [w for w in words[1:] if not w.startswith("--")]
                for src in sources:
                    target = dest.rstrip("/") + "/" + Path(src).name if dest.endswith("/") else dest
                    self.copied[src.rstrip("/")] = str(Path(target))
        self.workdir = workdir

    def holds(self, path: str) -> bool:
        parts = path.split("/")
        return any("/".join(parts[:i]) in self.copied for i in range(1, len(parts) + 1))


def _dockerignored(path: str) -> str | None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = path.split("/")
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        for i in range(1, len(parts) + 1):
            if fnmatch.fnmatch("/".join(parts[:i]), pattern):
                return pattern
            if bare != pattern and any(fnmatch.fnmatch("/".join(parts[j:i]), bare) for j in range(i)):
                return pattern
    return None


def needed(dockerfile: str) -> set[str]:
    packages = packages_needed(_compose_entries()[dockerfile])
    paths = {package_folders()[p] for p in packages} | files_read_at_run_time(packages)
    paths |= {"pyproject.toml", "README.md"}  # `pip install .` reads both
    if "podium" in packages:
        paths.add("manage.py")  # migrate and collectstatic
    return paths


def test_the_derivation_finds_what_is_known():
    assert needed("Dockerfile") >= {"platform", "datasets", "common", "workers", "examples", "manage.py"}
    assert needed("Dockerfile.worker") >= {"workers", "datasets", "common", "podium_client", "pyproject.toml"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_image_copies_what_its_services_import_and_read(dockerfile):
    image = Image(dockerfile)
    missing = sorted(p for p in needed(dockerfile) if not image.holds(p))
    assert not missing, f"{dockerfile} does not COPY {missing}"
    for src, dest in image.copied.items():
        assert dest == src, f"{dockerfile}: {src} lands at {dest}, not where the repository has it"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerignore_keeps_every_needed_file(dockerfile):
    roots = needed(dockerfile)
    files = [p for p in tracked() if p.split("/")[0] in roots]
    assert any(p.startswith("examples/") for p in files) or dockerfile != "Dockerfile"
    dropped = {p: pattern for p in files if (pattern := _dockerignored(p))}
    assert not dropped, f".dockerignore drops {dockerfile}'s {dropped}"


def test_web_image_runs_the_sources_from_the_repository_layout():
    """settings.BASE_DIR is three folders above podium/settings.py: it is WORKDIR, where
    examples/ is copied, only when podium is imported from WORKDIR/platform."""
    image = Image("Dockerfile")
    assert f"{image.workdir}/platform" in image.env.get("PYTHONPATH", "").split(":")


def _pip_installs(dockerfile: str) -> list[str]:
    text = re.sub(r"\\\n", " ", (ROOT / dockerfile).read_text())
    return re.findall(r"pip install [^&\n]*", text)


def test_web_image_installs_no_torch_and_the_worker_image_does():
    web, worker = _pip_installs("Dockerfile"), _pip_installs("Dockerfile.worker")
    assert web and not [line for line in web if "torch" in line or "[worker]" in line]
    assert any("'.[worker]'" in line for line in worker)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith(("torch", "safetensors"))]
    assert any(d.startswith("torch") for d in project["optional-dependencies"]["worker"])
