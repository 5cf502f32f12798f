from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from .models import Lampi


@login_required
def home(request):
    return redirect("lampi:list")


def logout_view(request):
    # GET or POST, unlike Django 5's LogoutView (POST only): load tests just follow a link.
    logout(request)
    return redirect("login")


@login_required
def lamp_list(request):
    lamps = Lampi.objects.filter(user=request.user).order_by("device_id")
    return render(request, "lampi/list.html", {"lamps": lamps})


@login_required
def lamp_detail(request, device_id):
    lamp = get_object_or_404(Lampi, device_id=device_id, user=request.user)
    return render(request, "lampi/detail.html", {"lamp": lamp})


@login_required
@require_http_methods(["GET", "POST"])
def add_lamp(request):
    error = None
    if request.method == "POST":
        code = request.POST.get("association_code", "").strip()
        lamp = Lampi.objects.filter(association_code=code, user__isnull=True).first() if code else None
        if lamp is not None:
            lamp.user = request.user
            lamp.save(update_fields=["user"])
            return redirect("lampi:list")
        error = "Unknown or already used association code."
    return render(request, "lampi/add.html", {"error": error})
