"""Signatures over a message's SHA-256 with an Ethereum key (EIP-191 personal messages).

Where no chain anchors a message (the model announcement in classic mode), the platform signs
its hash and clients check the signer against the address they were configured with. The
signature travels in a Kafka record header, so the signed bytes are the record's value itself.
"""

from __future__ import annotations

import hashlib

SIGNATURE_HEADER = "kml-signature"


def sign(key: str, payload: bytes) -> bytes:
    """The 65-byte signature of SHA-256(``payload``) by ``key``."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    digest = hashlib.sha256(payload).digest()
    return bytes(Account.sign_message(encode_defunct(primitive=digest), private_key=key).signature)


def signer(payload: bytes, signature: bytes) -> str | None:
    """The address that signed SHA-256(``payload``), or None for a malformed signature."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    digest = hashlib.sha256(payload).digest()
    try:
        return Account.recover_message(encode_defunct(primitive=digest), signature=signature)
    except Exception:  # eth_account raises several types for bytes that are no signature
        return None


def signed_by(payload: bytes, headers: dict[str, bytes], address: str) -> bool:
    """Whether the record (value ``payload``, ``headers``) carries ``address``'s signature."""
    signature = headers.get(SIGNATURE_HEADER)
    found = signer(payload, signature) if signature else None
    return found is not None and found.lower() == address.lower()
