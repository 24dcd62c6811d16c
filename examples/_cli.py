"""Run the labelclean command line from an example script, as a user would in a shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def labelclean(*args: str, cwd: Path) -> str:
    """Run ``labelclean ARGS`` in ``cwd``, echo and return what it printed; stop on failure."""
    print(f"$ labelclean {' '.join(args)}")
    done = subprocess.run([sys.executable, "-m", "labelclean", *args], cwd=cwd, text=True,
                          capture_output=True)
    print(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"labelclean {args[0]} failed with exit code {done.returncode}")
    return done.stdout
