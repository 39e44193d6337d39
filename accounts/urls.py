from django.urls import path

from accounts import views

urlpatterns = [
    path("signup", views.signup, name="signup"),
    path("login", views.login_view, name="login"),
    path("logout", views.logout_view, name="logout"),
    path("login/link/<str:token>", views.login_link, name="login_link"),
    path("organization/switch", views.organization_switch, name="organization_switch"),
    path("members", views.members, name="members"),
    path(
        "members/invitations/<uuid:invitation_id>/revoke",
        views.invitation_revoke_view,
        name="invitation_revoke",
    ),
    path("invite/<str:token>", views.invitation, name="invitation"),
]
