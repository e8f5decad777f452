from allauth.account.adapter import DefaultAccountAdapter
from django.urls import reverse

from marketplace.selectors import requester_organizations


class AccountAdapter(DefaultAccountAdapter):
    def get_signup_redirect_url(self, request):
        if requester_organizations(request.user).exists():
            return reverse("requester_home")
        return reverse("worker_apply")
