from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

api_patterns = [
    path("", include("podium.accounts.api_urls")),
    path("", include("podium.competitions.api_urls")),
    path("", include("podium.teams.api_urls")),
    path("", include("podium.submissions.api_urls")),
    path("", include("podium.leaderboards.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("", include("podium.web.urls")),
]

handler404 = "podium.errors.not_found"
# A request body Django refuses before any view (past DATA_UPLOAD_MAX_MEMORY_SIZE): JSON for
# the API, a page for the site.
handler400 = "podium.errors.bad_request"
