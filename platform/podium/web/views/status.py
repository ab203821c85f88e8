"""The public status page: the same figures as `GET /api/status/`."""

from __future__ import annotations

from django.shortcuts import render

from podium.status.selectors import platform_status


def status_page(request):
    status = platform_status()
    healthy = status["database"] == "ok" and status["broker"] == "ok"
    return render(request, "web/status.html", {"status": status, "healthy": healthy})
