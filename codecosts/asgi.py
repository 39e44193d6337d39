"""ASGI entry: proxy paths go to a lean handler, everything else to Django's own."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codecosts.settings")

django_application = get_asgi_application()

from proxy.asgi import build_application  # noqa: E402  (needs Django set up)

application = build_application(django_application)
