from django.apps import AppConfig


class LampiConfig(AppConfig):
    name = "lampi"
    default_auto_field = "django.db.models.BigAutoField"
