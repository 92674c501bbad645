from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from .services import authenticate_token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer odt_<key id>_<secret>`; request.auth is the ApiToken."""

    keyword = "bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("The Authorization header must be: Bearer <token>."))
        token = authenticate_token(parts[1])
        if token is None:
            raise exceptions.AuthenticationFailed(_("The token is not valid, has expired or was revoked."))
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
