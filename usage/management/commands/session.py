"""Start, end and show work sessions from the command line.

    python manage.py session start "Build recommendation engine" [--endpoint SLUG] [--org NAME]
    python manage.py session end [--endpoint SLUG] [--org NAME]
    python manage.py session status [--endpoint SLUG] [--org NAME]

Without --org, local mode's organization (the one of the `local` endpoint, which the
server creates when it starts). A session
started without --endpoint covers the whole organization; starting one ends the session
already running in the same scope. `status` shows, and `end` ends, the session calls
would join now: on --endpoint (in local mode, the `local` endpoint) its own session,
else the organization-wide one.
"""

from datetime import UTC
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.selectors import organization_get_by_name
from proxy.models import LOCAL_SLUG, ProxyEndpoint
from usage.models import Session
from usage.money import cents
from usage.selectors.sessions import proxy_endpoint_for_reference, session_active, session_current
from usage.services.sessions import session_end, session_start


class Command(BaseCommand):
    help = "Start, end or show the work session that proxied calls are grouped under."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{start,end,status}")
        start = actions.add_parser("start", help="Start a session (ending the one in its scope).")
        start.add_argument(
            "name", help='What the session is about, e.g. "Build recommendation engine".'
        )
        end = actions.add_parser("end", help="End the running session.")
        status = actions.add_parser("status", help="Show the running session.")
        for sub in (start, end, status):
            sub.add_argument("--org", default="", help="Organization name (default: local mode's).")
            sub.add_argument(
                "--endpoint", default="", help="Endpoint slug: a session for this endpoint only."
            )

    def handle(self, *args, action, org="", endpoint="", name="", **options):
        organization, endpoint_obj, default_endpoint = self._scope(org.strip(), endpoint.strip())
        if action == "start":
            self._start(organization, endpoint_obj, name)
        elif action == "end":
            self._end(organization, endpoint_obj or default_endpoint)
        else:
            self._status(organization, endpoint_obj or default_endpoint)

    def _scope(self, org_name: str, slug: str):
        """(organization, --endpoint's endpoint or None, local mode's endpoint or None)."""
        default_endpoint = None
        if org_name:
            organization = organization_get_by_name(name=org_name)
            if organization is None:
                raise CommandError(f'No organization named "{org_name}".')
        elif settings.LOCAL_MODE:
            default_endpoint = (
                ProxyEndpoint.objects.select_related("organization").filter(slug=LOCAL_SLUG).first()
            )
            if default_endpoint is None:
                raise CommandError(
                    "Local mode's endpoint does not exist yet: start the proxy once (make run)."
                )
            organization = default_endpoint.organization
        else:
            raise CommandError(
                "Pass --org NAME: outside local mode (LOCAL_MODE) there is no default organization."
            )
        endpoint = None
        if slug:
            endpoint = proxy_endpoint_for_reference(organization=organization, reference=slug)
            if endpoint is None:
                raise CommandError(f'No endpoint "{slug}" in organization "{organization.name}".')
        return organization, endpoint, default_endpoint

    def _start(self, organization, endpoint: ProxyEndpoint | None, name: str):
        previous = session_active(organization=organization, endpoint=endpoint)
        try:
            session = session_start(organization=organization, name=name, endpoint=endpoint)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if previous is not None:
            previous.refresh_from_db()
            self.stdout.write(f"Ended {_describe(previous)}.")
        scope = f"endpoint {endpoint.slug}" if endpoint else f'organization "{organization.name}"'
        self.stdout.write(
            f'Started session "{session.name}" ({session.id}) for {scope} '
            f"at {_moment(session.started_at)}."
        )

    def _end(self, organization, endpoint: ProxyEndpoint | None):
        session = session_current(organization=organization, endpoint=endpoint)
        if session is None:
            self.stdout.write("No active session.")
            return
        session = session_end(session=session)
        self.stdout.write(f"Ended {_describe(session)}.")

    def _status(self, organization, endpoint: ProxyEndpoint | None):
        session = session_current(organization=organization, endpoint=endpoint)
        if session is None:
            self.stdout.write("No active session.")
            return
        scope = f"endpoint {session.endpoint.slug}" if session.endpoint_id else "organization-wide"
        self.stdout.write(f"Active session: {session.name}")
        self.stdout.write(f"  id:       {session.id}")
        self.stdout.write(f"  scope:    {scope}")
        self.stdout.write(
            f"  started:  {_moment(session.started_at)} "
            f"({_duration(timezone.now() - session.started_at)} ago)"
        )
        self.stdout.write(f"  calls:    {session.calls}")
        self.stdout.write(f"  cost:     {_cost(session.cost_cents)}")


def _describe(session: Session) -> str:
    calls = "1 call" if session.calls == 1 else f"{session.calls} calls"
    return f'session "{session.name}" ({session.id}): {calls}, {_cost(session.cost_cents)}'


def _cost(value) -> str:
    value = Decimal(value or 0)
    return f"{cents(value)} cents (${cents(value / 100)})"


def _moment(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(delta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"
