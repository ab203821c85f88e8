"""The site's URLconf plus two views that crash, for the tests of the 500 answers."""

from django.urls import path

from podium.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401


def crash(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [path("api/crash/", crash), path("crash/", crash), *urlpatterns]
