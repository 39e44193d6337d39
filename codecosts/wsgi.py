"""WSGI entry, for management tools only: the product is served over ASGI (asgi.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codecosts.settings")

application = get_wsgi_application()
