"""The budgets REST API: /api/budgets[/<id>], each budget with where it stands now."""

from rest_framework import mixins, status
from rest_framework.response import Response

from accounts.permissions import Action
from accounts.scoping import OrganizationScopedViewSet
from budgets import selectors
from budgets.models import Budget
from budgets.serializers import BudgetInputSerializer, BudgetSerializer
from budgets.services import budget_create, budget_delete, budget_fields, budget_update


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
