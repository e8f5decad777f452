from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "payouts"
    verbose_name = "Ledger and payouts"

    def ready(self) -> None:
        # Rails register themselves on import; the Connect rail lives in its own module.
        from payouts import connect  # noqa: F401
