from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

device_id_validator = RegexValidator(r"^[0-9a-f]{12}$", "12 lowercase hex digits (eth0 MAC without colons)")


class Lampi(models.Model):
    """A lamp; `user` is empty until someone associates it with its association code."""

    device_id = models.CharField(max_length=12, unique=True, validators=[device_id_validator])
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    name = models.CharField(max_length=50, default="My LAMPI")
    association_code = models.CharField(max_length=32, unique=True)

    def __str__(self):
        return f"{self.name} ({self.device_id})"
