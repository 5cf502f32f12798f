"""Create the course load-test users: user_000000 .. user_{count-1:06}, password = username reversed
("000000_resu"); user i owns device format(0x1e0000000000 + i, "x"). Fast enough for thousands of users:
bulk inserts, and one hash per user with the configured (test: MD5) hasher.

--unassigned M also creates M lamps nobody owns yet (device 1f0000000000 + j, association code
"ADD" + j in 6 digits, e.g. ADD000000) for exercising /lampi/add/.
"""
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db import transaction

from lampi.models import Lampi

DEVICE_BASE = 0x1E0000000000
UNASSIGNED_BASE = 0x1F0000000000


def username(i):
    return f"user_{i:06d}"


class Command(BaseCommand):
    help = "Create the course load-test users and their lamps (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True, help="number of users (user_000000 ..)")
        parser.add_argument("--unassigned", type=int, default=0, help="extra lamps with no owner")

    @transaction.atomic
    def handle(self, *args, count, unassigned, **options):
        User = get_user_model()
        wanted = [username(i) for i in range(count)]
        existing = set(User.objects.filter(username__in=wanted).values_list("username", flat=True))
        User.objects.bulk_create(
            [User(username=name, password=make_password(name[::-1])) for name in wanted if name not in existing],
            batch_size=500,
        )
        ids = dict(User.objects.filter(username__in=wanted).values_list("username", "id"))
        lamps = []
        for i, name in enumerate(wanted):
            device_id = format(DEVICE_BASE + i, "x")
            lamps.append(Lampi(device_id=device_id, user_id=ids[name], name=f"LAMPI {device_id}", association_code=f"LT{i:06d}"))
        for j in range(unassigned):
            device_id = format(UNASSIGNED_BASE + j, "x")
            lamps.append(Lampi(device_id=device_id, user=None, name=f"LAMPI {device_id}", association_code=f"ADD{j:06d}"))
        Lampi.objects.bulk_create(lamps, batch_size=500, ignore_conflicts=True)
        self.stdout.write(f"{count - len(existing)} users created ({count} wanted), {len(lamps)} lamps ensured")
