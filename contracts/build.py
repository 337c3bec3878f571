"""Compile the contracts with the pinned solc and write contracts/artifacts/ (run by ``make setup``).

The logic lives in :mod:`kafkaml.ledger.compiler` so that Python code (the Blockscout
verification of ``kafkaml audit``, the staleness test) uses the very same inputs.
"""

from __future__ import annotations

import sys

from kafkaml.ledger.compiler import ARTIFACTS_DIR, BuildError, build


def main() -> int:
    try:
        artifacts = build()
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, artifact in artifacts.items():
        size = (len(artifact["deployedBytecode"]) - 2) // 2
        print(f"{name}: {size} bytes deployed, solc {artifact['compiler']['version']}")
    (ARTIFACTS_DIR / ".built").touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
