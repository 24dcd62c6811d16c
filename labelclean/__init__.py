"""labelclean: find duplicates, wrong labels and broken files in image-classification datasets.

Heavy libraries (torch, timm, faiss, cleanlab, scikit-learn) are imported lazily by the
stage that needs them, so importing this package is cheap.
"""

__version__ = "0.1.0"

from labelclean.errors import LabelcleanError  # noqa: E402

__all__ = ["LabelcleanError", "__version__"]
