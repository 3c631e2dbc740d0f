"""Running the real `alignmon` entry point as a user would, for the
end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ALIGNMON = str(Path(sys.executable).with_name("alignmon"))


def alignmon(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``alignmon ARGS`` in ``cwd``, with ``env`` added to this process's
    environment (less any $ALIGNMON_CONFIG of the developer's)."""
    full_env = {k: v for k, v in os.environ.items() if k != "ALIGNMON_CONFIG"}
    full_env.update(env or {})
    return subprocess.run(
        [ALIGNMON, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )
