from django.urls import path

from usage import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
