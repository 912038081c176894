"""Cold start: how long a fresh interpreter takes to import each Lambda entry point's modules."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 15
# What a stage Lambda imports on its first call, beyond app.py itself.
ENTRY_POINTS = {
    "app (API and every stage handler)": "import app",
    "app + preflight stage + boto3": "import app, boto3, chalicelib.stages.preflight",
    "app + smoke stage (websockets)": "import app, chalicelib.stages.smoke, websockets.sync.client",
    # The API's first authenticated request: PyJWT with cryptography's RSA.
    "app + caller verification (PyJWT)": "import app, chalicelib.callers, jwt, jwt.algorithms",
}


def measure(statement: str) -> list[float]:
    probe = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return [
        float(
            subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        )
        for _ in range(RUNS)
    ]


def main() -> None:
    print(f"import time over {RUNS} fresh interpreters (median, p90), {sys.version.split()[0]}")
    for name, statement in ENTRY_POINTS.items():
        times = sorted(measure(statement))
        print(f"  {name:<40} {statistics.median(times) * 1000:6.0f} ms  {times[int(RUNS * 0.9)] * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
