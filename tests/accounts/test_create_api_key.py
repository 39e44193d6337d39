"""python manage.py create_api_key --org NAME [--name LABEL]"""

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiKey, Organization
from accounts.selectors import api_key_get_by_raw_key
from accounts.services import organization_create


def run(*args) -> list[str]:
    out = io.StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue().splitlines()


def test_it_creates_the_organization_and_prints_the_key_last(db):
    lines = run("--org", "Initech", "--name", "deploy")

    organization = Organization.objects.get(name="Initech")
    api_key = api_key_get_by_raw_key(raw_key=lines[-1])
    assert api_key is not None
    assert api_key.organization == organization
    assert api_key.name == "deploy"
    assert lines[-1].startswith("cc_")
    assert any("Created organization" in line for line in lines[:-1])
    assert all(lines[-1] not in line for line in lines[:-1])


def test_the_printed_key_works_against_the_api(db, anonymous_client):
    key = run("--org", "Initech")[-1]
    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    created = anonymous_client.post("/api/proxy-endpoints", {"name": "via cli"})
    listed = anonymous_client.get("/api/proxy-endpoints")

    assert created.status_code == 201
    assert [e["slug"] for e in listed.json()["items"]] == ["via-cli"]


def test_running_it_twice_reuses_the_organization(db):
    first = run("--org", "Initech")[-1]
    second = run("--org", "Initech")[-1]

    assert Organization.objects.filter(name="Initech").count() == 1
    assert first != second
    assert ApiKey.objects.filter(organization__name="Initech").count() == 2


def test_with_several_organizations_of_that_name_it_uses_the_oldest(db):
    oldest = organization_create(name="Twins")
    organization_create(name="Twins")

    key = run("--org", "Twins")[-1]

    assert api_key_get_by_raw_key(raw_key=key).organization == oldest
    assert Organization.objects.filter(name="Twins").count() == 2


def test_it_uses_an_existing_organization(org):
    lines = run("--org", "Acme")

    assert any("Using organization" in line for line in lines)
    assert api_key_get_by_raw_key(raw_key=lines[-1]).organization == org


@pytest.mark.parametrize("args", [["--org", "  "], ["--org", "x" * 201]])
def test_it_refuses_a_blank_or_too_long_name(db, args):
    with pytest.raises(CommandError):
        run(*args)
    assert Organization.objects.count() == 0


def test_org_is_required(db):
    with pytest.raises(CommandError):
        run()
