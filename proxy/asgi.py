def build_application(django_application):
    return django_application
