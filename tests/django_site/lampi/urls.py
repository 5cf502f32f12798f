from django.urls import path

from . import views

app_name = "lampi"
urlpatterns = [
    path("", views.lamp_list, name="list"),
    # LAMPI's lamp page has no trailing slash.
    path("device/<str:device_id>", views.lamp_detail, name="detail"),
    path("add/", views.add_lamp, name="add"),
]
