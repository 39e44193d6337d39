"""The Settings page's budget forms: /settings/budgets[/<id>/delete], /settings/time-zone."""

from django.urls import path

from budgets import views

urlpatterns = [
    path("settings/budgets", views.budget_create_view, name="budget_create"),
    path("settings/budgets/<uuid:budget_id>/delete", views.budget_delete_view, name="budget_delete"),
    path("settings/time-zone", views.time_zone_view, name="time_zone"),
    path("settings/alert-destinations", views.alert_destination_create_view, name="alert_destination_create"),
    path(
        "settings/alert-destinations/<uuid:destination_id>/delete",
        views.alert_destination_delete_view,
        name="alert_destination_delete",
    ),
]
