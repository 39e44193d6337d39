from django.contrib import admin

from accounts.models import ApiKey, Invitation, LoginLink, Membership, Organization
from accounts.services import api_key_revoke, invitation_revoke


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["created_at"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "created_at"]
    search_fields = ["name", "id"]
    readonly_fields = ["id", "created_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "organization__name"]
    autocomplete_fields = ["user", "organization"]
    readonly_fields = ["created_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are listed and revoked here, never created: a raw key is shown only once,
    by whoever creates it (the settings page or `manage.py create_api_key`)."""

    list_display = [
        "display_prefix",
        "name",
        "organization",
        "scope",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["display_prefix", "name", "organization__name"]
    fields = [
        "organization",
        "name",
        "scope",
        "display_prefix",
        "key_hash",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = [
        "organization",
        "scope",
        "display_prefix",
        "key_hash",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True))
        for api_key in keys:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {len(keys)} API key(s).")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Owners create invitations on the Members page (the link is shown to them once)."""

    list_display = [
        "organization",
        "email",
        "created_by",
        "created_at",
        "expires_at",
        "accepted_by",
        "revoked_at",
    ]
    list_select_related = ["organization", "created_by", "accepted_by"]
    search_fields = ["organization__name", "email"]
    exclude = ["token_hash"]
    readonly_fields = [
        "organization",
        "email",
        "role",
        "created_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
    ]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected invitations")
    def revoke(self, request, queryset):
        invitations = list(queryset.filter(accepted_at__isnull=True, revoked_at__isnull=True))
        for invitation in invitations:
            invitation_revoke(invitation=invitation)
        self.message_user(request, f"Revoked {len(invitations)} invitation(s).")


@admin.register(LoginLink)
class LoginLinkAdmin(admin.ModelAdmin):
    """One-time sign-in links, for auditing; they are made by `login_link_create` only."""

    list_display = ["user", "created_at", "expires_at", "used_at"]
    list_select_related = ["user"]
    search_fields = ["user__username"]
    exclude = ["token_hash"]
    readonly_fields = ["user", "created_at", "expires_at", "used_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
