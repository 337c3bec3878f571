"""``kafkaml demo``: the README's main command.

Brings the local stack up and proves every part works for real: a produce/consume round trip
on every broker and a signed, mined transaction on the chain, then prints what runs where.
"""

from __future__ import annotations

import argparse
import time
import uuid

from kafka import TopicPartition
from rich.console import Console
from rich.table import Table
from web3 import Web3

from kafkaml import kafka
from kafkaml.local import stack

console = Console()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="bring the local stack up and prove every part works")
    parser.add_argument("--clients", type=int, default=2, help="federated clients (default 2)")
    parser.set_defaults(handler=run)


def round_trip(bootstrap: str, payload: bytes) -> float:
    """Produce ``payload`` to a fresh topic and read it back by explicit assignment; returns seconds."""
    started = time.monotonic()
    topic = f"kafkaml-smoke-{uuid.uuid4().hex[:8]}"
    producer = kafka.producer(bootstrap)
    try:
        written = producer.send(topic, payload).get(timeout=10)
    finally:
        producer.close()
    # Auto-created topics have several partitions: read back where the record landed.
    partition = TopicPartition(topic, written.partition)
    consumer = kafka.assigned_consumer(bootstrap, [partition])
    try:
        consumer.seek(partition, written.offset)
        records = consumer.poll(timeout_ms=10000).get(partition, [])
    finally:
        consumer.close()
    if not records or records[0].value != payload:
        raise RuntimeError(f"round trip on {bootstrap} returned {records[:1]!r} instead of the payload")
    return time.monotonic() - started


def chain_transaction(current: stack.Stack) -> tuple[str, int, float]:
    """Send 1 wei from the platform to client 1 (or itself), signed locally; returns hash, block, s."""
    started = time.monotonic()
    web3 = Web3(Web3.HTTPProvider(current.chain.address))
    sender = current.account("platform")
    receiver = current.accounts[1] if len(current.accounts) > 1 else sender
    transaction = {
        "to": receiver.address,
        "value": 1,
        "gas": 21000,
        "gasPrice": web3.eth.gas_price,
        "nonce": web3.eth.get_transaction_count(sender.address, "pending"),
        "chainId": current.chain_id,
    }
    signed = web3.eth.account.sign_transaction(transaction, sender.private_key())
    receipt = web3.eth.wait_for_transaction_receipt(web3.eth.send_raw_transaction(signed.raw_transaction), 30)
    if receipt["status"] != 1:
        raise RuntimeError(f"the smoke transaction {receipt['transactionHash'].hex()} failed")
    return receipt["transactionHash"].hex(), receipt["blockNumber"], time.monotonic() - started


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    current = stack.up(args.clients)
    console.print(f"local stack up with {args.clients} client(s) in {time.monotonic() - started:.2f} s")
    table = Table(title="local stack, proven")
    for column in ("part", "address", "check", "seconds"):
        table.add_column(column)
    payload = uuid.uuid4().bytes * 64
    for broker in current.brokers:
        seconds = round_trip(broker.address, payload)
        table.add_row(broker.name, broker.address, "produce/consume round trip", f"{seconds:.3f}")
    tx_hash, block, seconds = chain_transaction(current)
    table.add_row("chain", current.chain.address, f"tx {tx_hash[:18]}… in block {block}", f"{seconds:.3f}")
    console.print(table)
    console.print("stop it with 'kafkaml local down'; inspect it with 'kafkaml local status'")
    return 0
