"""Sign in: a session for the browser, a token for scripts and the CLI.

Both are throttled (``BACKEND_SIGN_IN_RATE_PER_ADDRESS`` and ``..._PER_USER``: 429 beyond), so
passwords cannot be guessed at speed, from one address or against one user. Signing in to a
session needs the CSRF token like any other session write: without it, another site could sign a
visitor in to an account of its choosing (login CSRF). The token endpoint sets no cookie, so it
needs none."""

from __future__ import annotations

import hashlib

from django.contrib.auth import authenticate, login, logout
from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from kafkaml.services.rest import StrictCharField


class CredentialsInput(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, style={"input_type": "password"})


class UserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    is_staff = serializers.BooleanField()


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()


class CsrfOutput(serializers.Serializer):
    csrf_token = serializers.CharField()


class SignInPerAddress(SimpleRateThrottle):
    """Sign-in attempts from one client address (``BACKEND_TRUSTED_PROXIES`` says which one)."""

    scope = "sign_in_address"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SignInPerUser(SimpleRateThrottle):
    """Sign-in attempts for one user name, from wherever they come."""

    scope = "sign_in_user"

    def get_cache_key(self, request, view) -> str | None:
        name = request.data.get("username") if isinstance(request.data, dict) else None
        if not isinstance(name, str):
            return None  # no user named: the input is refused anyway
        ident = hashlib.sha256(name.strip().lower().encode("utf-8", "replace")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


SIGN_IN_THROTTLES = [SignInPerAddress, SignInPerUser]


def _user(request) -> object:
    data = CredentialsInput(data=request.data)
    data.is_valid(raise_exception=True)
    user = authenticate(request, **data.validated_data)
    if user is None:
        raise AuthenticationFailed("wrong user name or password")
    return user


@method_decorator(ensure_csrf_cookie, name="get")
class CsrfApi(APIView):
    """The CSRF cookie (and token) a browser needs before its first session write."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses=CsrfOutput, operation_id="auth_csrf")
    def get(self, request):
        return Response({"csrf_token": get_token(request)})


class LoginApi(APIView):
    """A session for the browser; the CSRF token (``/api/auth/csrf/``) is required, as for any
    session write."""

    permission_classes = [AllowAny]
    throttle_classes = SIGN_IN_THROTTLES
    error_codes = {"POST": ("429",)}

    @extend_schema(request=CredentialsInput, responses=UserOutput, operation_id="auth_login")
    def post(self, request):
        SessionAuthentication().enforce_csrf(request)
        user = _user(request)
        login(request, user)
        return Response(UserOutput(user).data)


class LogoutApi(APIView):
    @extend_schema(request=None, responses={204: None}, operation_id="auth_logout")
    def post(self, request):
        logout(request)
        return Response(status=204)


class TokenApi(APIView):
    """An API token for scripts (``Authorization: Token <token>``); the same one on every call."""

    error_codes = {"POST": ("401", "403", "429")}  # wrong user name or password; too many attempts

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = SIGN_IN_THROTTLES

    @extend_schema(request=CredentialsInput, responses=TokenOutput, operation_id="auth_token")
    def post(self, request):
        token, _ = Token.objects.get_or_create(user=_user(request))
        return Response({"token": token.key})


class MeApi(APIView):
    @extend_schema(responses=UserOutput, operation_id="auth_me")
    def get(self, request):
        return Response(UserOutput(request.user).data)
