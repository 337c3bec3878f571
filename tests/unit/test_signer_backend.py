"""Every key holder signs with eth-keys' native secp256k1 backend (coincurve), not its pure-Python
one: a signature costs about 0.7 ms instead of 6 (``benchmarks/coordination_overhead.py``'s CPU
figure counts every one a training makes), and eth-keys falls back to pure Python silently when
coincurve is missing."""

from eth_account import Account
from eth_keys.backends import get_backend
from eth_keys.backends.coincurve import CoinCurveECCBackend


def test_transactions_are_signed_by_the_native_backend() -> None:
    backend = get_backend()
    assert isinstance(backend, CoinCurveECCBackend), (
        f"eth-keys signs with {type(backend).__name__}: install coincurve (make setup)")
    account = Account.create()
    signed = account.sign_transaction({"to": "0x" + "11" * 20, "value": 1, "gas": 21_000, "nonce": 0,
                                       "maxFeePerGas": 10**9, "maxPriorityFeePerGas": 1, "chainId": 31337})
    assert Account.recover_transaction(signed.raw_transaction) == account.address
