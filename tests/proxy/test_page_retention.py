"""The Settings page's "Data retention and redaction" section and its form,
/settings/retention (issue 15): owners change it, members see it, outsiders never
touch Acme's; bad input is a form message with what was typed kept."""

from html import unescape

import pytest

from accounts.models import Organization

pytestmark = pytest.mark.django_db

URL = "/settings/retention"
FORM = {"body_retention_days": "14", "usage_retention_days": "365", "redaction_patterns": ""}



def section(html: str) -> str:
    start = html.index('<section class="card" id="retention">')
    return html[start : html.index("</section>", start)]


def test_an_owner_gets_the_form_with_the_current_values(owner_page, org):
    org.usage_retention_days = 400
    org.redaction_patterns = ["ACME-[0-9]{6}", "secret-\\w+"]
    org.save()

    html = section(owner_page.get("/settings").content.decode())

    assert "Data retention and redaction" in html
    assert 'id="retention-form"' in html
    assert 'name="body_retention_days" value="30"' in html
    assert 'name="usage_retention_days" value="400"' in html
    assert ">ACME-[0-9]{6}\nsecret-\\w+</textarea>" in unescape(html)


def test_a_member_sees_the_values_but_no_form(member_page, org):
    org.redaction_patterns = ["ACME-[0-9]{6}"]
    org.save()

    html = unescape(section(member_page.get("/settings").content.decode()))

    assert 'id="retention-form"' not in html and "<textarea" not in html
    assert "<th>Bodies kept</th><td>30 days</td>" in html
    assert "<th>Usage logs kept</th><td>for ever</td>" in html
    assert "<code>ACME-[0-9]{6}</code>" in html
    assert "Only owners can change retention and redaction." in html


def test_an_owner_saves_retention_and_patterns_one_a_line(owner_page, org):
    patterns = "  ACME-[0-9]{6}  \r\n\r\nsecret-\\w+\n"

    response = owner_page.post(URL, {**FORM, "redaction_patterns": patterns})

    assert (response.status_code, response["Location"]) == (302, "/settings#retention")
    org.refresh_from_db()
    assert (org.body_retention_days, org.usage_retention_days) == (14, 365)
    assert org.redaction_patterns == ["ACME-[0-9]{6}", "secret-\\w+"]  # blank lines and edges dropped
    html = owner_page.get("/settings").content.decode()
    assert "Bodies are kept 14 days, usage logs 365 days; 2 redaction patterns of your own." in unescape(html)


def test_an_empty_usage_field_keeps_usage_for_ever(owner_page, org):
    org.usage_retention_days = 90
    org.save()

    owner_page.post(URL, {**FORM, "usage_retention_days": " "})

    org.refresh_from_db()
    assert org.usage_retention_days is None
    html = unescape(owner_page.get("/settings").content.decode())
    assert "Bodies are kept 14 days, usage logs for ever; 0 redaction patterns of your own." in html


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"body_retention_days": "0"}, "body_retention_days must be a whole number of days from 1 to 3650"),
        ({"body_retention_days": ""}, "body_retention_days must be a whole number of days from 1 to 3650"),
        ({"body_retention_days": "two weeks"}, "body_retention_days must be a whole number of days from 1 to 3650"),
        (
            {"usage_retention_days": "-5"},
            "usage_retention_days must be a whole number of days from 1 to 36500, or none to keep usage logs for ever",
        ),
        (
            {"usage_retention_days": "7"},
            "usage_retention_days (7) must be at least body_retention_days (14): a call's bodies are "
            "deleted with its log, so they cannot be kept longer than it",
        ),
        (
            {"redaction_patterns": "fine\n(broken"},
            "Pattern 2 ('(broken') is not a regular expression: missing ), unterminated subpattern at position 0.",
        ),
        ({"redaction_patterns": ".*"}, "Pattern 1 ('.*') matches an empty text, so it would redact between every two characters."),
    ],
)
def test_bad_input_is_a_form_message_and_changes_nothing(owner_page, org, fields, message):
    before = Organization.objects.filter(id=org.id).values().get()
    typed = {**FORM, **fields}

    response = owner_page.post(URL, typed)

    assert response.status_code == 400
    html = unescape(section(response.content.decode()))
    assert f"<li>{message}</li>" in html
    # What was typed is kept, to be corrected.
    assert f'name="body_retention_days" value="{typed["body_retention_days"]}"' in html
    assert f'name="usage_retention_days" value="{typed["usage_retention_days"]}"' in html
    assert f">{typed['redaction_patterns']}</textarea>" in html
    assert Organization.objects.filter(id=org.id).values().get() == before


def test_a_member_cannot_change_it(member_page, org):
    response = member_page.post(URL, {**FORM, "body_retention_days": "1"})

    assert response.status_code == 403
    org.refresh_from_db()
    assert org.body_retention_days == 30


def test_an_outsider_changes_only_their_own_organization(outsider_page, org, other_org):
    response = outsider_page.post(URL, {**FORM, "redaction_patterns": "globex-only"})

    assert response.status_code == 302
    org.refresh_from_db()
    other_org.refresh_from_db()
    assert (org.body_retention_days, org.redaction_patterns) == (30, [])
    assert (other_org.body_retention_days, other_org.redaction_patterns) == (14, ["globex-only"])
    # Their Settings page is Globex's: their pattern, never Acme's name.
    html = section(outsider_page.get("/settings").content.decode())
    assert "globex-only</textarea>" in html and "Globex" in html and "Acme" not in html


def test_signed_out_it_is_the_sign_in_page(client, org):
    response = client.post(URL, FORM)

    assert response.status_code == 302 and response["Location"].startswith("/login")
