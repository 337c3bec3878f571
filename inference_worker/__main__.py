"""``python -m inference_worker``: see :mod:`inference_worker.worker`."""

from inference_worker.worker import main

raise SystemExit(main())
