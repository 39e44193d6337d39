from django.contrib import admin
from django.urls import include, path

from codecosts import views

urlpatterns = [
    # Proxy routes first: codecosts/asgi.py serves these paths through a lean handler.
    path("", include("proxy.urls")),
    path("health", views.health, name="health"),
    path("api/", include("proxy.api_urls")),
    path("api/", include("usage.api_urls")),
    path("admin/", admin.site.urls),
    # Pages.
    path("", include("accounts.urls")),
    path("", include("usage.urls")),
]

# Paths under /api/ get JSON errors; everything else keeps Django's pages.
handler400 = "codecosts.views.handler400"
handler403 = "codecosts.views.handler403"
handler404 = "codecosts.views.handler404"
handler500 = "codecosts.views.handler500"
