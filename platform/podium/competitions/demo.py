"""The demo accounts `seed_demo` creates and `make run` prints (no Django here: the launcher
imports it before any process has set Django up)."""

from __future__ import annotations

ADMIN = ("admin", "podium-admin")
DEMO = ("demo", "podium-demo")
