"""API keys: creation, storage, lookup, revocation, last use; organizations and members."""

import hashlib
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from accounts.models import ApiKey, Membership, Organization
from accounts.selectors import api_key_get_by_raw_key, organization_for_user
from accounts.services import (
    api_key_create,
    api_key_mark_used,
    api_key_revoke,
    membership_create,
    organization_create,
)


def test_it_returns_a_raw_key_with_a_recognisable_prefix_and_a_long_secret(org):
    api_key, raw_key = api_key_create(organization=org, name="ci")

    assert raw_key.startswith("cc_")
    assert len(raw_key) == len("cc_") + 43  # token_urlsafe(32): 256 random bits
    assert api_key.organization == org
    assert api_key.name == "ci"
    assert api_key.is_active


def test_it_stores_only_the_sha256_digest_and_a_short_prefix(org, owner):
    api_key, raw_key = api_key_create(organization=org, created_by=owner)
    api_key.refresh_from_db()

    assert api_key.key_hash == hashlib.sha256(raw_key.encode()).hexdigest()
    assert api_key.display_prefix == raw_key[:12]
    assert api_key.created_by == owner


def test_two_keys_never_share_a_secret(org):
    keys = {api_key_create(organization=org)[1] for _ in range(20)}

    assert len(keys) == 20


def _database_dump() -> str:
    """Every row of every table, as text."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            rows += [repr(row) for row in cursor.fetchall()]
    return "\n".join(rows)


def test_the_raw_key_appears_nowhere_in_the_database(org, owner):
    api_key, raw_key = api_key_create(organization=org, name="secret", created_by=owner)
    secret = raw_key.removeprefix("cc_")

    dump = _database_dump()

    assert api_key.key_hash in dump  # the dump does contain the key's row
    assert raw_key not in dump
    assert secret not in dump
    assert raw_key[12:] not in dump  # beyond the displayed prefix, nothing at all


def test_it_finds_a_key_by_its_raw_value(org, owner_key):
    api_key = api_key_get_by_raw_key(raw_key=owner_key)

    assert api_key is not None
    assert api_key.organization == org


@pytest.mark.parametrize("raw_key", ["", "cc_", "cc_short", "xx_" + "a" * 43, "cc_" + "!" * 43])
def test_it_finds_nothing_for_a_malformed_key(owner_key, raw_key):
    assert api_key_get_by_raw_key(raw_key=raw_key) is None


def test_it_finds_nothing_for_a_key_differing_by_one_character(owner_key):
    last = "A" if owner_key[-1] != "A" else "B"

    assert api_key_get_by_raw_key(raw_key=owner_key[:-1] + last) is None


def test_revoking_marks_the_key_revoked_and_keeps_the_first_time(org):
    api_key, raw_key = api_key_create(organization=org)

    api_key_revoke(api_key=api_key)
    first = api_key.revoked_at
    api_key_revoke(api_key=api_key)

    assert first is not None
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at == first
    assert api_key_get_by_raw_key(raw_key=raw_key).is_active is False


T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_last_use_is_written_the_first_time(org):
    api_key, _ = api_key_create(organization=org)

    assert api_key_mark_used(api_key=api_key, now=T0) is True

    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == T0


def test_last_use_is_not_written_again_within_the_hour(org):
    api_key, _ = api_key_create(organization=org)
    api_key_mark_used(api_key=api_key, now=T0)

    wrote = api_key_mark_used(api_key=api_key, now=T0 + timedelta(minutes=59))

    assert wrote is False
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == T0


def test_last_use_is_written_again_after_an_hour(org):
    api_key, _ = api_key_create(organization=org)
    api_key_mark_used(api_key=api_key, now=T0)

    wrote = api_key_mark_used(api_key=api_key, now=T0 + timedelta(minutes=61))

    assert wrote is True
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == T0 + timedelta(minutes=61)


def test_of_two_concurrent_requests_with_a_stale_key_only_one_writes(org):
    """The condition is in the UPDATE: a request holding an old copy of the row does not write."""
    api_key, _ = api_key_create(organization=org)
    first_copy = ApiKey.objects.get(pk=api_key.pk)
    second_copy = ApiKey.objects.get(pk=api_key.pk)

    assert api_key_mark_used(api_key=first_copy, now=T0) is True
    with mock.patch.object(ApiKey.objects, "filter", wraps=ApiKey.objects.filter) as query:
        assert api_key_mark_used(api_key=second_copy, now=T0 + timedelta(seconds=1)) is False

    assert query.called  # it did ask the database, whose row said "recent"
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == T0


def test_creating_an_organization_with_an_owner_makes_them_its_owner(owner):
    organization = organization_create(name="  Initech ", owner=owner)

    assert organization.name == "Initech"
    membership = Membership.objects.get(organization=organization)
    assert (membership.user, membership.role) == (owner, Membership.Role.OWNER)


def test_creating_an_organization_without_owner_has_no_members(db):
    organization = organization_create(name="Empty")

    assert organization.memberships.count() == 0


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_it_refuses_a_blank_or_too_long_organization_name(db, name):
    with pytest.raises(ValidationError) as raised:
        organization_create(name=name)

    assert list(raised.value.message_dict) == ["name"]
    assert Organization.objects.count() == 0


def test_a_users_active_organization_is_the_chosen_one_if_they_belong_to_it(org, other_org, owner):
    membership_create(organization=other_org, user=owner)

    assert organization_for_user(user=owner, organization_id=str(other_org.id)) == other_org
    assert organization_for_user(user=owner, organization_id=other_org.id) == other_org


def test_a_users_active_organization_falls_back_to_their_first_membership(org, other_org, owner):
    assert organization_for_user(user=owner) == org
    assert organization_for_user(user=owner, organization_id=str(other_org.id)) == org
    assert organization_for_user(user=owner, organization_id="not-a-uuid") == org


def test_a_user_without_membership_has_no_organization(db, django_user_model):
    loner = django_user_model.objects.create_user(username="loner")

    assert organization_for_user(user=loner) is None


def test_a_role_outside_owner_and_member_is_refused(org, django_user_model):
    user = django_user_model.objects.create_user(username="x")

    with pytest.raises(ValidationError):
        membership_create(organization=org, user=user, role="admin")
    assert not Membership.objects.filter(user=user).exists()
