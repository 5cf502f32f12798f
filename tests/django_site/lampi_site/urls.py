from django.contrib.auth import views as auth_views
from django.urls import include, path

from lampi import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("", views.home, name="home"),
    path("lampi/", include("lampi.urls")),
]
