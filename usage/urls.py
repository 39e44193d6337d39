from django.urls import path

from usage import views, views_attribution

urlpatterns = [
    path("", views.dashboard_page, name="dashboard"),
    path("logs", views.logs, name="logs"),
    path("logs/export.csv", views.logs_export, name="logs_export"),
    path("logs/<uuid:log_id>", views.log_detail_page, name="log_detail"),
    path("sessions", views.sessions, name="sessions"),
    path("people", views_attribution.people, name="people"),
    path("agents", views_attribution.agents, name="agents"),
    path("properties", views_attribution.properties, name="properties"),
    path("sessions/start", views.session_start, name="session_start"),
    path("sessions/<uuid:session_id>/end", views.session_end, name="session_end"),
]
