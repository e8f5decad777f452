from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django import forms
from django.urls import reverse

from marketplace import login_throttle
from marketplace.selectors import requester_organizations


class AccountAdapter(DefaultAccountAdapter):
    def get_signup_redirect_url(self, request):
        if requester_organizations(request.user).exists():
            return reverse("requester_home")
        return reverse("worker_apply")

    # Failed sign-ins: marketplace.login_throttle, per (login, address) pair with growing
    # delays, in place of allauth's per-login and per-address limits (which lock out a
    # centre's cohort). allauth calls these three around every password check: the login
    # form, reauthentication, and the headless API alike.

    def pre_authenticate(self, request, **credentials):
        login = credentials.get("email") or credentials.get("username") or ""
        try:
            self._login_attempt = login_throttle.begin(
                login=login, address=self.get_client_ip(request)
            )
        except login_throttle.LoginThrottled as exc:
            raise forms.ValidationError(exc.message, code="too_many_login_attempts") from exc

    def authenticate(self, request, **credentials):
        user = super().authenticate(request, **credentials)
        if user is not None:
            login_throttle.succeeded(self._login_attempt)
        return user

    def authentication_failed(self, request, **credentials):
        login_throttle.failed(self._login_attempt)

    def _delete_login_attempts_cached_email(self, request, **credentials):
        # allauth calls this after a password reset, which proves the owner of the
        # address: clear the owner's counts (by username too) as allauth cleared its own.
        email = credentials.get("email", "")
        addresses = EmailAddress.objects.filter(email__iexact=email).select_related("user")
        for address in addresses:
            login_throttle.forget_logins([address.email, address.user.username])
