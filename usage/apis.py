"""The usage REST API: usage logs, the usage summary and work sessions."""

from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import Action
from accounts.scoping import OrganizationScopedViewSet
from codecosts.api import CursorPagination
from usage.models import Session, UsageDaily, UsageLog
from usage.params import UsageLogFilterSerializer, UsageSummaryParamsSerializer
from usage.selectors.bodies import usage_log_bodies
from usage.selectors.logs import (
    usage_log_cost_breakdown,
    usage_log_cost_by_model,
    usage_log_cost_parts,
    usage_log_list,
)
from usage.selectors.sessions import proxy_endpoint_for_reference, session_list
from usage.selectors.summary import usage_summary
from usage.serializers import (
    SessionCreateInputSerializer,
    SessionSerializer,
    UsageLogDetailSerializer,
    UsageLogSerializer,
    summary_representation,
)
from usage.services.sessions import session_end, session_start


class NewestFirstPagination(CursorPagination):
    """Newest first over (started_at, id): stable while calls keep arriving."""

    cursor_field = "started_at"
    descending = True


class UsageLogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """GET /api/usage-logs (filtered, newest first, no bodies) and /api/usage-logs/<id>."""

    queryset = UsageLog.objects.all()
    pagination_class = NewestFirstPagination
    actions_required = {"list": Action.VIEW, "retrieve": Action.VIEW}

    def get_serializer_class(self):
        return UsageLogDetailSerializer if self.action == "retrieve" else UsageLogSerializer

    def get_base_queryset(self):
        if self.action == "retrieve":
            return UsageLog.objects.select_related("body")
        return UsageLog.objects.all()

    def filter_scoped_queryset(self, queryset):
        if self.action != "list":
            return queryset
        params = UsageLogFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        return usage_log_list(
            queryset=queryset,
            endpoint=data.get("endpoint", ""),
            model=data.get("model", ""),
            outcome=data.get("outcome", ""),
            session=data.get("session"),
            person=data.get("person", ""),
            request_class=data.get("request_class", ""),
            agent_type=data.get("agent_type", ""),
            agent=data.get("agent", ""),
            tag=data.get("tag", ""),
            property=data.get("property"),
            time_range=params.time_range(),
            organization_id=self.get_organization().id,
        )

    def retrieve(self, request, pk=None):
        log = self.get_object()
        serializer = UsageLogDetailSerializer(
            log,
            context={
                "request": request,
                "bodies": usage_log_bodies(log),
                "cost_breakdown": usage_log_cost_breakdown(log),
                "cost_parts": usage_log_cost_parts(log),
                "cost_by_model": usage_log_cost_by_model(log),
            },
        )
        return Response(serializer.data)


class UsageSummaryViewSet(OrganizationScopedViewSet):
    """GET /api/usage/summary?group_by=endpoint|model|day|session|person|request_class|agent_type|tag|property:<name>&since=&until="""

    queryset = UsageDaily.objects.all()
    pagination_class = None
    actions_required = {"list": Action.VIEW}

    def list(self, request):
        params = UsageSummaryParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        summary = usage_summary(
            organization=self.get_organization(),
            group_by=params.validated_data["group_by"],
            time_range=params.time_range(),
        )
        return Response(summary_representation(summary))


class SessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """List (newest first), start, read and end work sessions."""

    queryset = Session.objects.all()
    serializer_class = SessionSerializer
    actions_required = {
        "list": Action.VIEW,
        "retrieve": Action.VIEW,
        "create": Action.SESSION_MANAGE,
        "end": Action.SESSION_MANAGE,
    }
    pagination_class = NewestFirstPagination

    def get_base_queryset(self):
        return session_list(queryset=Session.objects.all())

    def create(self, request):
        data = SessionCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = self.get_organization()
        endpoint = None
        reference = data.validated_data.get("endpoint")
        if reference:
            endpoint = proxy_endpoint_for_reference(organization=organization, reference=reference)
            if endpoint is None:
                raise exceptions.ValidationError(
                    {
                        "endpoint": [
                            exceptions.ErrorDetail(
                                "endpoint is not the id or slug of an endpoint of your organization",
                                code="not_found",
                            )
                        ]
                    }
                )
        session = session_start(
            organization=organization, name=data.validated_data["name"], endpoint=endpoint
        )
        return Response(self.get_serializer(session).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        session = session_end(session=self.get_object())
        return Response(self.get_serializer(session).data)
