"""The Kubernetes naming rules a job description must meet, checked before anything is launched.

An API server rejects a bad name, label or quantity only when the Job is created, which is late
(the backend has already recorded a training) and impossible offline. The same rules checked
here make a bad spec fail at construction with a message naming the field, for both launchers:
local mode accepts exactly what a cluster would. A label value also ends up inside label
selector strings (``key=value,...``), so these rules are what keeps a value from injecting a
second selector term.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_LABEL = re.compile(_DNS_LABEL)
DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
QUANTITY = re.compile(r"(?P<number>[0-9]+(\.[0-9]+)?)(?P<suffix>m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")
_MULTIPLIERS = {"": 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
                "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60}

#: What an Ethereum private key looks like when someone pastes one into a plain setting.
PRIVATE_KEY_LIKE = re.compile(r"(?<![0-9A-Fa-f])0x[0-9A-Fa-f]{64}(?![0-9A-Fa-f])|^[0-9A-Fa-f]{64}$")
#: A SHA-256 digest as the registries store it (lower-case hex): public, though shaped like a key.
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def check_dns_label(what: str, value: str) -> None:
    """A DNS-1123 label (names of Jobs and containers): lower-case, at most 63 characters."""
    if len(value) > 63 or not DNS_LABEL.fullmatch(value):
        raise ValueError(f"{what} {value!r} must be a DNS-1123 label: at most 63 of a-z, 0-9 and '-', "
                         f"starting and ending with a letter or digit")


def check_dns_subdomain(what: str, value: str) -> None:
    """A DNS-1123 subdomain (names of Secrets and service accounts): at most 253 characters."""
    if len(value) > 253 or not DNS_SUBDOMAIN.fullmatch(value):
        raise ValueError(f"{what} {value!r} must be a DNS-1123 subdomain (lower-case, digits, '-' and '.')")


def check_labels(labels: Mapping[str, str]) -> None:
    """Label keys (``[prefix/]name``) and values per Kubernetes' rules."""
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if prefix:
            check_dns_subdomain(f"label prefix of {key!r}", prefix)
        if len(name) > 63 or not LABEL_NAME.fullmatch(name):
            raise ValueError(f"label key {key!r}: the name part must be at most 63 of A-Z, a-z, 0-9, '-', '_' "
                             f"and '.', starting and ending with a letter or digit")
        if not isinstance(value, str) or len(value) > 63 or (value and not LABEL_NAME.fullmatch(value)):
            raise ValueError(f"label {key!r}: value {value!r} must be at most 63 of A-Z, a-z, 0-9, '-', '_' and "
                             f"'.', starting and ending with a letter or digit")


def check_environment(environment: Mapping[str, str]) -> None:
    """Names that every shell and our settings accept, string values, and no private key in plain text.

    A value that looks like a private key is refused without quoting it: keys go in secret files.
    A digest has the same shape: a variable named ``*_SHA256`` may hold exactly one (it pins public
    data, e.g. ``DATASOURCE_SHA256``).
    """
    for name, value in environment.items():
        if not ENV_NAME.fullmatch(name):
            raise ValueError(f"environment variable name {name!r} must be letters, digits and '_', "
                             f"not starting with a digit")
        if not isinstance(value, str):
            raise ValueError(f"environment variable {name} must be a string, not {type(value).__name__}")
        if PRIVATE_KEY_LIKE.search(value) and not (name.endswith("_SHA256") and SHA256_HEX.fullmatch(value)):
            raise ValueError(f"environment variable {name} holds what looks like a private key (64 hex digits); "
                             f"pass keys as secret files, never as plain settings")


def quantity(what: str, value: str) -> float:
    """The number a Kubernetes resource quantity (``250m``, ``2Gi``) stands for."""
    match = QUANTITY.fullmatch(value)
    if not match:
        raise ValueError(f"{what} {value!r} is not a Kubernetes quantity such as '500m', '2', '512Mi' or '2Gi'")
    return float(match["number"]) * _MULTIPLIERS[match["suffix"] or ""]
