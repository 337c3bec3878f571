"""Submitting a platform's contracts to Blockscout for verification (optional).

Blockscout recompiles the standard-JSON input we give it and compares the result with the
bytecode on chain, so the request carries exactly what built the deployed bytecode: the
committed ``standard-input.json`` and the full compiler version. None of our contracts takes
constructor arguments (the factory creates the token and the implementation; a training's
parameters are its clone's immutable arguments), so the request says so instead of letting
Blockscout guess.

A training itself is a 129-byte EIP-1167 clone that no compiler produces: Blockscout
recognises minimal proxies and shows the verified source of the implementation they delegate
to. :func:`training_requests` therefore asks to verify the contracts behind a training: the
FederatedLearning implementation, the TrainingFactory and the RewardToken.

Requests are built separately from being sent (:func:`submit`) so that they can be checked
without a Blockscout instance.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import requests
from eth_utils import keccak

from kafkaml.ledger.compiler import CONTRACTS, load_artifact, load_standard_input

if TYPE_CHECKING:
    from kafkaml.ledger.reader import TrainingReader

LICENSE = "mit"  # the SPDX identifier of our sources, in Blockscout's spelling
_CREATE_TRAINING = keccak(text="createTraining(address,bytes32,string,string,uint32,uint96)")[:4]


class BlockscoutError(RuntimeError):
    """Blockscout refused the verification request or could not be reached."""


def verification_request(
    blockscout_url: str, name: str, address: str, creation_input: bytes | None = None
) -> requests.PreparedRequest:
    """The multipart POST that asks ``blockscout_url`` to verify contract ``name`` at ``address``.

    ``creation_input``, when known, is the input of the transaction that deployed the contract:
    it is checked to be our artifact's bytecode, so that a foreign build fails here, saying why.
    """
    if not blockscout_url.startswith(("http://", "https://")):
        raise BlockscoutError(f"ETH_BLOCKSCOUT_URL={blockscout_url!r} is not an http(s) URL")
    artifact = load_artifact(name)
    if creation_input is not None:
        if creation_input.startswith(_CREATE_TRAINING):
            raise BlockscoutError(
                f"{address} is a training clone created by a TrainingFactory: verify the contracts "
                "behind it (kafkaml.ledger.blockscout.training_requests)"
            )
        if creation_input != bytes.fromhex(artifact["bytecode"].removeprefix("0x")):
            raise BlockscoutError(
                f"{name} at {address} was not built from the committed artifacts "
                "(its creation code differs), so Blockscout could not verify it"
            )
    fields = {
        "compiler_version": "v" + artifact["compiler"]["version"].removesuffix(".Emscripten.clang"),
        "license_type": LICENSE,
        "contract_name": f"{CONTRACTS[name]}:{name}",
        "autodetect_constructor_args": "false",
        "constructor_args": "",
    }
    standard_input = json.dumps(load_standard_input()).encode()
    url = f"{blockscout_url.rstrip('/')}/api/v2/smart-contracts/{address}/verification/via/standard-input"
    files: dict[str, Any] = {"files[0]": ("standard-input.json", standard_input, "application/json")}
    return requests.Request("POST", url, data=fields, files=files).prepare()


def training_requests(blockscout_url: str, ledger: TrainingReader) -> list[tuple[str, str, requests.PreparedRequest]]:
    """(name, address, request) for each contract behind ``ledger``'s training."""
    platform = ledger.platform()
    return [
        (name, address, verification_request(blockscout_url, name, address))
        for name, address in (
            ("FederatedLearning", platform.implementation),
            ("TrainingFactory", platform.factory),
            ("RewardToken", platform.token),
        )
    ]


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
