"""``python -m kafkaml.cli``: the ``kafkaml`` command."""

import sys

from kafkaml.cli import main

sys.exit(main())
