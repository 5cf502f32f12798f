# A Locust master for lampi-agent workers: `locust -f deploy/locust/locustfile.py --master`, then
# `lampi-agent loadtest --locust-master HOST` on each simulating host or lamp (see README, "Running under a Locust
# master"). The master needs one User class to start; our workers run one virtual lamp per user, whatever the class,
# so this one does nothing itself. Python users of your own can sit next to it (run them on Python workers).
from locust import User, task


class LampiUser(User):
    @task
    def noop(self):
        pass
