__version__ = "0.1.0"

from codecosts.celery import app as celery_app  # noqa: E402

__all__ = ["__version__", "celery_app"]
