"""Deterministic, funded accounts of the local chain: one for the platform, one per client.

Anvil and Hardhat's node derive their dev accounts from one fixed mnemonic, so the same addresses
come back on every run and on either node. The private keys are written to per-account files (mode 0600) in the run directory, the
local stand-in for the Kubernetes Secrets that hold them in a cluster: jobs receive a path
(``ETH_WALLET_KEY_FILE``), never a key in an environment value or a log.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

#: Anvil's (and Hardhat's) public development mnemonic. These keys guard nothing of value.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_BALANCE_ETH = 10_000


@dataclass(frozen=True)
class LocalAccount:
    role: str  # "platform" or "client-<n>"
    address: str
    key_file: Path

    def private_key(self) -> str:
        return self.key_file.read_text().strip()


def role_name(index: int) -> str:
    """Account 0 is the platform; account n is client n."""
    return "platform" if index == 0 else f"client-{index}"


def write_accounts(count: int, keys_dir: Path) -> list[LocalAccount]:
    """Derive ``count`` dev accounts and write their key files (0600) into ``keys_dir``."""
    from eth_account import Account  # heavy (≈0.5 s): only where keys are made

    Account.enable_unaudited_hdwallet_features()
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    accounts = []
    for index in range(count):
        account = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
        key_file = keys_dir / f"{role_name(index)}.key"
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(account.key.hex())
        accounts.append(LocalAccount(role_name(index), account.address, key_file))
    return accounts


def new_account(key_file: Path, seed: str | None = None) -> LocalAccount:
    """A fresh account (e.g. one training's aggregator) with its key in ``key_file`` (0600).

    Random unless ``seed`` is given; a seeded key gives the same address on every run, which a
    gas measurement needs: calldata costs 4 gas per zero byte and 16 per other byte, so an
    address with a zero byte changes the gas of every call that names it."""
    from eth_account import Account

    account = Account.from_key(hashlib.sha256(seed.encode()).digest()) if seed else Account.create()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(account.key.hex())
    return LocalAccount(key_file.stem, account.address, key_file)
