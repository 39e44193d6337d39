"""The Properties page: /properties (name "properties"): cost per value of a property and
per tag, from the rollups; "Not set" is the period's totals less the values."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from proxy.services import proxy_endpoint_create
from tests.usage.test_page_logs import at
from tests.usage.test_page_people import WEEK, attributed_call, logs_behind, write

pytestmark = pytest.mark.django_db

REPO = "x-codecosts-property-repo"
ENV = "x-codecosts-property-env"
TAGS = "x-codecosts-tags"


@pytest.fixture
def member_client(member):
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def labelled_calls(endpoint):
    """repo=web twice ($0.045 and $0.09), repo=api once, no repo once; env=prod once;
    tags a,b / a / none / none; and a repo=old call before the week."""
    records = {
        "web_1": attributed_call(
            endpoint, started_at=at(20, 9), headers={REPO: "web", TAGS: "a,b"}
        ),
        "web_2": attributed_call(
            endpoint,
            started_at=at(20, 10),
            headers={REPO: "web", ENV: "prod", TAGS: "a"},
            input_tokens=20_000,
            output_tokens=2_000,
        ),
        "api": attributed_call(endpoint, started_at=at(21, 9), headers={REPO: "api"}),
        "bare": attributed_call(endpoint, started_at=at(21, 10)),
        "old": attributed_call(endpoint, started_at=at(10), headers={REPO: "old", ENV: "dev"}),
    }
    return dict(zip(records, write(*records.values())))


def _rows(lines):
    return [(line.label, line.calls, line.cost.cents, line.share) for line in lines]


def test_the_properties_page_requires_login(db):
    response = Client().get("/properties")

    assert response.status_code == 302
    assert response["Location"] == "/login?next=/properties"


def test_it_lists_the_periods_property_names_and_shows_the_first(member_client, labelled_calls):
    response = member_client.get(f"/properties?{WEEK}")

    assert response.status_code == 200
    labels = response.context["labels"]
    assert (labels.names, labels.name) == (["env", "repo"], "env")
    # $0.225 in all: env=prod is web_2's $0.09; the other three calls are "Not set".
    assert _rows(labels.values) == [
        ("prod", 1, Decimal("9"), "40.0%"),
        ("Not set", 3, Decimal("13.5"), "60.0%"),
    ]
    html = response.content.decode()
    assert '<option value="env" selected>env</option>' in html
    assert '<option value="repo" >repo</option>' in html
    assert ">Properties</a>" in html


def test_cost_per_value_of_the_chosen_property_and_the_calls_without_it(
    member_client, labelled_calls
):
    response = member_client.get(f"/properties?{WEEK}&name=repo")

    labels = response.context["labels"]
    assert labels.name == "repo"
    assert _rows(labels.values) == [
        ("web", 2, Decimal("13.5"), "60.0%"),
        ("api", 1, Decimal("4.5"), "20.0%"),
        ("Not set", 1, Decimal("4.5"), "20.0%"),
    ]
    web = labels.values[0]
    assert (web.sums["input_tokens"], web.sums["output_tokens"]) == (30_000, 3_000)
    unset = labels.values[-1]
    assert (unset.sums["input_tokens"], unset.sums["output_tokens"], unset.cache_hit_ratio) == (
        10_000,
        1_000,
        "0.0%",
    )
    # The preset links keep the chosen property.
    assert 'href="?days=7&amp;name=repo"' in response.content.decode()


def test_cost_per_tag_with_the_untagged_calls(member_client, labelled_calls):
    labels = member_client.get(f"/properties?{WEEK}").context["labels"]

    # A call with two tags counts under both.
    assert _rows(labels.tags) == [
        ("a", 2, Decimal("13.5"), "60.0%"),
        ("b", 1, Decimal("4.5"), "20.0%"),
        ("No tag", 2, Decimal("9"), "40.0%"),
    ]


def test_each_row_links_to_exactly_its_calls_in_the_period(member_client, labelled_calls):
    labels = member_client.get(f"/properties?{WEEK}&name=repo").context["labels"]
    values = {line.label: f"/logs?{line.logs_query}" for line in labels.values}
    tags = {line.label: f"/logs?{line.logs_query}" for line in labels.tags}
    ids = {name: log.id for name, log in labelled_calls.items()}

    assert values["web"] == "/logs?property=repo%3Aweb&since=2026-11-15&until=2026-11-21"
    assert values["Not set"] == "/logs?property=repo%3A%28none%29&since=2026-11-15&until=2026-11-21"
    assert logs_behind(member_client, values["web"]) == {ids["web_1"], ids["web_2"]}
    assert logs_behind(member_client, values["api"]) == {ids["api"]}
    # Within the period: the repo=old call is not among them, nor among "Not set".
    assert logs_behind(member_client, values["Not set"]) == {ids["bare"]}
    assert tags["No tag"] == "/logs?tag=%28none%29&since=2026-11-15&until=2026-11-21"
    assert logs_behind(member_client, tags["a"]) == {ids["web_1"], ids["web_2"]}
    assert logs_behind(member_client, tags["b"]) == {ids["web_1"]}
    assert logs_behind(member_client, tags["No tag"]) == {ids["api"], ids["bare"]}


def test_an_unknown_property_name_shows_the_first(member_client, labelled_calls):
    labels = member_client.get(f"/properties?{WEEK}&name=nope").context["labels"]

    assert labels.name == "env"


def test_a_period_without_properties_says_so(member_client, endpoint):
    write(attributed_call(endpoint, started_at=at(20)))

    response = member_client.get(f"/properties?{WEEK}")

    labels = response.context["labels"]
    assert (labels.names, labels.values) == ([], [])
    assert [line.label for line in labels.tags] == ["No tag"]
    assert "No call with a property in this period." in response.content.decode()


def test_the_page_never_reads_the_logs_nor_queries_per_row(
    member_client, endpoint, django_assert_max_num_queries
):
    write(attributed_call(endpoint, started_at=at(20), headers={REPO: "r0", TAGS: "t0"}))
    with CaptureQueriesContext(connection) as few:
        member_client.get(f"/properties?{WEEK}&name=repo")
    write(
        *(
            attributed_call(
                endpoint, started_at=at(20), headers={REPO: f"r{i}", TAGS: f"t{i},u{i}"}
            )
            for i in range(1, 30)
        )
    )

    with CaptureQueriesContext(connection) as many:
        response = member_client.get(f"/properties?{WEEK}&name=repo")

    assert len(response.context["labels"].values) == 30
    assert len(response.context["labels"].tags) == 59
    assert len(many.captured_queries) == len(few.captured_queries)
    assert not [q for q in many.captured_queries if '"usage_usagelog"' in q["sql"]]


def test_an_outsider_sees_none_of_this_organizations_properties(
    member_client, outsider, other_org, labelled_calls
):
    globex = proxy_endpoint_create(organization=other_org, name="G", slug="globex-x")
    write(
        attributed_call(
            globex, started_at=at(20), headers={"x-codecosts-property-team": "gx", TAGS: "secret"}
        )
    )
    outsider_client = Client()
    outsider_client.force_login(outsider)

    theirs = outsider_client.get(f"/properties?{WEEK}&name=repo")
    ours = member_client.get(f"/properties?{WEEK}")

    labels = theirs.context["labels"]
    assert (labels.names, labels.name) == (["team"], "team")
    assert [line.label for line in labels.values] == ["gx"]
    assert [line.label for line in labels.tags] == ["secret"]
    html = theirs.content.decode()
    assert ">repo<" not in html and ">web<" not in html and "repo%3A" not in html
    assert "team" not in ours.context["labels"].names and "secret" not in ours.content.decode()
    assert logs_behind(outsider_client, f"/logs?property=repo:web&{WEEK}") == set()
