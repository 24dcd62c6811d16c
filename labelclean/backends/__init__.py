"""Where work runs: local process pools (:mod:`labelclean.backends.local`)."""
