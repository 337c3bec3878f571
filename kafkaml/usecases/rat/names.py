"""The use case's fixed names and defaults, without numpy: what the CLI's parser shows in its help.

:mod:`generator` and :mod:`partition` re-export them; models and datasets rely on the order of
:data:`CLASSES` (label ``i`` is ``CLASSES[i]``).
"""

from __future__ import annotations

CLASSES = ("lte", "nr", "wifi", "itsg5", "cv2x", "noise")
"""Class names in label order: label ``i`` is ``CLASSES[i]``. Fixed; models and datasets rely on it."""

DEFAULT_WINDOW = 880
DEFAULT_SNR_RANGE = (-10.0, 30.0)

MODES = ("full-copy", "random-split", "by-technology")
"""How a dataset is shared among clients: whole copies, disjoint random shares, non-IID by class."""
