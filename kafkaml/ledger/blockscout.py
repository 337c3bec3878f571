"""Submitting a deployed contract's source to Blockscout for verification (optional).

Blockscout recompiles the standard-JSON input we give it and compares the result with the
bytecode on chain, so the request carries exactly what built the deployed bytecode: the
committed ``standard-input.json``, the full compiler version, and the constructor arguments cut
from the creation transaction. Before anything is sent we check that the creation code really
starts with our artifact's bytecode: if someone deployed a different build, verification would
fail anyway, and this way the error says why.

The request is built (:func:`verification_request`) separately from being sent
(:func:`submit`) so that it can be checked without a Blockscout instance.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from kafkaml.ledger.compiler import CONTRACTS, load_artifact, load_standard_input

LICENSE = "mit"  # the SPDX identifier of our sources, in Blockscout's spelling


class BlockscoutError(RuntimeError):
    """Blockscout refused the verification request or could not be reached."""


def verification_request(
    blockscout_url: str, name: str, address: str, creation_input: bytes | None
) -> requests.PreparedRequest:
    """The multipart POST that asks ``blockscout_url`` to verify contract ``name`` at ``address``.

    ``creation_input`` is the creation transaction's input (bytecode + constructor arguments);
    None lets Blockscout find the arguments itself.
    """
    if not blockscout_url.startswith(("http://", "https://")):
        raise BlockscoutError(f"ETH_BLOCKSCOUT_URL={blockscout_url!r} is not an http(s) URL")
    artifact = load_artifact(name)
    fields = {
        "compiler_version": "v" + artifact["compiler"]["version"].removesuffix(".Emscripten.clang"),
        "license_type": LICENSE,
        "contract_name": f"{CONTRACTS[name]}:{name}",
    }
    if creation_input is None:
        fields["autodetect_constructor_args"] = "true"
    else:
        bytecode = bytes.fromhex(artifact["bytecode"].removeprefix("0x"))
        if not creation_input.startswith(bytecode):
            raise BlockscoutError(
                f"{name} at {address} was not built from the committed artifacts "
                "(its creation code differs), so Blockscout could not verify it"
            )
        fields["autodetect_constructor_args"] = "false"
        fields["constructor_args"] = creation_input[len(bytecode) :].hex()
    standard_input = json.dumps(load_standard_input()).encode()
    url = f"{blockscout_url.rstrip('/')}/api/v2/smart-contracts/{address}/verification/via/standard-input"
    files: dict[str, Any] = {"files[0]": ("standard-input.json", standard_input, "application/json")}
    return requests.Request("POST", url, data=fields, files=files).prepare()


def submit(request: requests.PreparedRequest, timeout_s: float = 30.0) -> str:
    """Send a prepared verification request; returns Blockscout's message ("... started", "Already verified")."""
    try:
        with requests.Session() as session:
            response = session.send(request, timeout=timeout_s)
    except requests.RequestException as exc:
        raise BlockscoutError(
            f"Blockscout at {request.url} could not be reached: {type(exc).__name__}"
        ) from None
    if response.status_code >= 400:
        raise BlockscoutError(f"Blockscout answered {response.status_code}: {response.text[:300]}")
    try:
        return str(response.json().get("message", response.text[:200]))
    except ValueError:
        return response.text[:200]
