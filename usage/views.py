"""Usage pages: the dashboard, logs, log detail, CSV export and sessions."""

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_safe

from accounts.views import organization_required, render_page


@require_safe
@login_required
@organization_required
def dashboard(request, organization):
    return render_page(request, "usage/dashboard.html", {})
