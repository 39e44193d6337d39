from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.views import serve as static_serve
from django.urls import include, path, re_path

from accounts.forms import AdminLoginForm
from accounts.views import admin_login
from codecosts import views
from proxy import views_settings

# AdminLoginForm refuses an attempt admin_login found over the throttle.
admin.site.login_form = AdminLoginForm

urlpatterns = [
    # Proxy routes first: codecosts/asgi.py serves these paths through a lean handler.
    path("", include("proxy.urls")),
    path("health", views.health, name="health"),
    path("api/", include("proxy.api_urls")),
    path("api/", include("usage.api_urls")),
    path("api/", include("budgets.api_urls")),
    path("api/", include("accounts.api_urls")),
    # Before the admin's own: its login goes through the login page's throttle.
    path("admin/login/", admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
    # Pages.
    path("", include("accounts.urls")),
    path("", include("usage.urls")),
    path("", include("budgets.urls")),
    path("settings", views_settings.settings_page, name="settings"),
    path("settings/endpoints", views_settings.endpoint_create, name="endpoint_create"),
    path(
        "settings/endpoints/<uuid:endpoint_id>/lock",
        views_settings.endpoint_lock,
        name="endpoint_lock",
    ),
    path(
        "settings/endpoints/<uuid:endpoint_id>/bodies",
        views_settings.endpoint_store_bodies,
        name="endpoint_store_bodies",
    ),
    path(
        "settings/endpoints/<uuid:endpoint_id>/delete",
        views_settings.endpoint_delete,
        name="endpoint_delete",
    ),
    path("settings/retention", views_settings.retention_settings_view, name="retention_settings"),
    path("settings/api-keys", views_settings.api_key_create_view, name="api_key_create"),
    path(
        "settings/api-keys/<uuid:api_key_id>/revoke",
        views_settings.api_key_revoke_view,
        name="api_key_revoke",
    ),
    # The product serves its own few static files (one stylesheet, one script, the
    # admin's), so `make run` and a single process need no web server in front.
    re_path(rf"^{settings.STATIC_URL.strip('/')}/(?P<path>.+)$", static_serve, {"insecure": True}),
]

# Paths under /api/ get JSON errors; everything else keeps Django's pages.
handler400 = "codecosts.views.handler400"
handler403 = "codecosts.views.handler403"
handler404 = "codecosts.views.handler404"
handler500 = "codecosts.views.handler500"
