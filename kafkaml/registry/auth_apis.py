"""Sign in: a session for the browser, a token for scripts and the CLI."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from kafkaml.django_rest import StrictCharField


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
    permission_classes = [AllowAny]

    @extend_schema(request=CredentialsInput, responses=UserOutput, operation_id="auth_login")
    def post(self, request):
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

    error_codes = {"POST": ("401", "403")}  # wrong user name or password

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=CredentialsInput, responses=TokenOutput, operation_id="auth_token")
    def post(self, request):
        token, _ = Token.objects.get_or_create(user=_user(request))
        return Response({"token": token.key})


class MeApi(APIView):
    @extend_schema(responses=UserOutput, operation_id="auth_me")
    def get(self, request):
        return Response(UserOutput(request.user).data)
