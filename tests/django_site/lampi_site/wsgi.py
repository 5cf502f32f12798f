"""WSGI entry point: `python -m gunicorn lampi_site.wsgi:application`."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lampi_site.settings")
application = get_wsgi_application()
