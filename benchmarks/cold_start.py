"""Cold start: how long a fresh interpreter takes to import each Lambda entry point's modules."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 15
# What a stage Lambda imports on its first call, beyond app.py itself.
ENTRY_POINTS = {
    "app (API and every stage handler)": "import app",
    "app + preflight stage + boto3": "import app, boto3, chalicelib.stages.preflight",
    "app + smoke stage (websockets)": "import app, chalicelib.stages.smoke, websockets.sync.client",
    # The API's first authenticated request: PyJWT with cryptography's RSA.
    "app + caller verification (PyJWT)": "import app, chalicelib.api.callers, jwt, jwt.algorithms",
}


def measure(statement: str) -> list[float]:
    probe = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return [
        float(
            subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        )
        for _ in range(RUNS)
    ]


# From the packaged zip alone (-S: no site-packages), as Lambda runs it: a bare boto3 import, and a stage's
# start: its modules, and the clients its first call makes (the preflight stage: the most clients).
PACKAGED = {
    "import boto3": "import boto3",
    "preflight's start": (
        "import os; os.environ.update(AWS_ACCESS_KEY_ID='k', AWS_SECRET_ACCESS_KEY='s',"
        " AWS_DEFAULT_REGION='us-east-1');"
        " import app; from chalicelib.platform import aws; from chalicelib.checks.services import PREFLIGHT_SERVICES;"
        " [aws.preflight_client(service) for service in PREFLIGHT_SERVICES]"
    ),
}


def measure_packaged(statement: str, tree: Path) -> list[float]:
    probe = (
        f"import sys; sys.path.insert(0, {str(tree)!r}); import time; t = time.process_time(); {statement};"
        " print(time.process_time() - t)"
    )
    run = [sys.executable, "-S", "-c", probe]
    # Lambda's /var/task is read-only: what is not compiled in the zip is compiled again at every start.
    env = {"PYTHONDONTWRITEBYTECODE": "1"}
    return [float(subprocess.run(run, capture_output=True, text=True, check=True, env=env).stdout) for _ in range(RUNS)]


def packaged() -> None:
    archive = ROOT / "out" / "package" / "deployment.zip"
    if not archive.exists():
        print("no out/package/deployment.zip: run `make package` for the packaged cold start")
        return
    with tempfile.TemporaryDirectory() as tree:
        zipfile.ZipFile(archive).extractall(tree)
        medians = {name: statistics.median(measure_packaged(code, Path(tree))) for name, code in PACKAGED.items()}
    print(f"packaged ({archive.stat().st_size / 1e6:.1f} MB zipped), CPU time, median of {RUNS}:")
    for name, median in medians.items():
        print(f"  {name:<40} {median * 1000:6.0f} ms")
    ratio = medians["preflight's start"] / medians["import boto3"]
    print(f"  preflight's start / bare boto3 import   {ratio:6.1f}x")


def main() -> None:
    print(f"import time over {RUNS} fresh interpreters (median, p90), {sys.version.split()[0]}")
    for name, statement in ENTRY_POINTS.items():
        times = sorted(measure(statement))
        print(f"  {name:<40} {statistics.median(times) * 1000:6.0f} ms  {times[int(RUNS * 0.9)] * 1000:6.0f} ms")
    packaged()


if __name__ == "__main__":
    main()
