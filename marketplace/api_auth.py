"""Organization API keys as REST authentication. Kept apart from the error handler:
DRF imports this while rest_framework.views is still loading."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from marketplace.services import authenticate_api_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer mk_…`. The request acts as the key's creator, limited to
    the key's organization (request.auth is the ApiKey)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header.startswith(f"{self.keyword} "):
            return None
        key = authenticate_api_key(header[len(self.keyword) + 1 :].strip())
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return key.created_by, key

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "marketplace.api_auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An organization API key (mk_…).",
        }
