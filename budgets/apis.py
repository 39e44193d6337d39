"""The budgets REST API: /api/budgets[/<id>], each budget with where it stands now, and
/api/alert-destinations[/<id>[/deliveries]], where their alerts go and how each went."""

from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import Action
from accounts.scoping import OrganizationScopedViewSet
from budgets import selectors
from budgets.destinations import alert_destination_create, alert_destination_delete
from budgets.models import AlertDelivery, AlertDestination, Budget
from budgets.serializers import (
    AlertDeliverySerializer,
    AlertDestinationCreatedSerializer,
    AlertDestinationCreateInputSerializer,
    AlertDestinationSerializer,
    BudgetInputSerializer,
    BudgetSerializer,
)
from budgets.services import (
    budget_create,
    budget_delete,
    budget_fields,
    budget_update,
)
from codecosts.api import CursorPagination


class BudgetViewSet(mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """List (oldest first), create, read, change and delete budgets; owners write.

    Each budget's status reads its spend live from the usage tables: one or two
    aggregate queries a budget (whole days from the daily totals or rollups, the edges
    of a period in another zone than UTC from the logs), at most 100 a page.
    """

    queryset = Budget.objects.select_related("organization", "endpoint")
    serializer_class = BudgetSerializer
    actions_required = {
        "list": Action.VIEW,
        "retrieve": Action.VIEW,
        "create": Action.BUDGET_MANAGE,
        "partial_update": Action.BUDGET_MANAGE,
        "destroy": Action.BUDGET_MANAGE,
    }

    def get_serializer(self, instance, **kwargs):
        budgets = instance if kwargs.get("many") else [instance]
        now = selectors.budget_clock()
        statuses = {budget.pk: selectors.budget_status(budget, now=now) for budget in budgets}
        kwargs["context"] = {**self.get_serializer_context(), "statuses": statuses}
        return BudgetSerializer(instance, **kwargs)

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request):
        data = BudgetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = self.get_organization()
        budget = budget_create(
            organization=organization,
            **budget_fields(organization=organization, values=data.validated_data),
        )
        return Response(self.get_serializer(budget).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        budget = self.get_object()
        data = BudgetInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = budget_fields(organization=self.get_organization(), values=data.validated_data, budget=budget)
        budget = budget_update(budget=budget, **fields)
        return Response(self.get_serializer(budget).data)

    def destroy(self, request, pk=None):
        budget_delete(budget=self.get_object())
        return Response({"ok": True})


class NewestFirstPagination(CursorPagination):
    descending = True


class AlertDestinationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet
):
    """List (oldest first), add, read and remove where alerts go; each one's delivery log."""

    queryset = AlertDestination.objects.all()
    serializer_class = AlertDestinationSerializer
    actions_required = {
        "list": Action.VIEW,
        "retrieve": Action.VIEW,
        "deliveries": Action.VIEW,
        "create": Action.BUDGET_MANAGE,
        "destroy": Action.BUDGET_MANAGE,
    }

    def create(self, request):
        data = AlertDestinationCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        destination = alert_destination_create(
            organization=self.get_organization(), **data.validated_data
        )
        return Response(
            AlertDestinationCreatedSerializer(destination).data, status=status.HTTP_201_CREATED
        )

    def destroy(self, request, pk=None):
        alert_destination_delete(destination=self.get_object())
        return Response({"ok": True})

    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The destination's deliveries, newest first: how each alert went."""
        destination = self.get_object()
        deliveries = AlertDelivery.objects.filter(destination=destination).select_related(
            "alert__budget"
        )
        paginator = NewestFirstPagination()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        return paginator.get_paginated_response(AlertDeliverySerializer(page, many=True).data)
