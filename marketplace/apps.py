from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = _("Accounts and vetting")

    def ready(self) -> None:
        from django.conf.locale import LANG_INFO

        from marketplace import signals  # noqa: F401 (connects the receivers)

        # The language picker names each language in itself; Django names Khmer
        # "Khmer" even in Khmer.
        LANG_INFO["km"]["name_local"] = "ខ្មែរ"
