"""Makes Chalice's deployment.zip small and quick to start: only the AWS models the code uses, bytecode
compiled for the Lambda runtime's Python, nothing local-only."""

from __future__ import annotations

import argparse
import json
import py_compile
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Clients the code makes without naming the service in a literal (the credential chain may ask STS).
IMPLICIT_SERVICES = {"sts"}
_CLIENT_CALL = re.compile(r"""\b(?:client|_aws|_preflight_client)\(\s*["']([a-z0-9-]+)["']""")


def services_used(root: Path = ROOT) -> set[str]:
    """Every AWS service the Lambdas make a client of: the stage table's declared clients, and each
    service named in a client call in app.py and chalicelib/."""
    from chalicelib.checks.services import PREFLIGHT_SERVICES
    from chalicelib.platform.aws import placed
    from chalicelib.stages.table import STAGES

    declared = {service for spec in STAGES.values() for service in spec.clients} | set(PREFLIGHT_SERVICES)
    named = {placed(service)[0] for service in declared}
    for path in [root / "app.py", *sorted((root / "chalicelib").rglob("*.py"))]:
        named |= set(_CLIENT_CALL.findall(path.read_text()))
    return named | IMPLICIT_SERVICES


def _kept(name: str, services: set[str], newest: dict[str, str]) -> bool:
    parts = name.split("/")
    if parts[:2] != ["botocore", "data"] or len(parts) < 4:
        return True
    service = parts[2]
    if service not in services:
        return False
    # One API version per service (the newest, which botocore loads), without the docs' examples.
    return len(parts) < 5 or (parts[3] == newest[service] and parts[4] != "examples-1.json")


def slim(archive: Path, services: set[str]) -> tuple[int, int]:
    """Rewrite `archive` in place; its (size before, size after) in bytes."""
    before = archive.stat().st_size
    with tempfile.TemporaryDirectory(prefix="slim-") as work:
        tree = Path(work) / "tree"
        with zipfile.ZipFile(archive) as zipped:
            names = zipped.namelist()
            newest: dict[str, str] = {}
            for name in names:
                parts = name.split("/")
                if parts[:2] == ["botocore", "data"] and len(parts) >= 5:
                    newest[parts[2]] = max(newest.get(parts[2], ""), parts[3])
            missing = services - set(newest)
            if missing:
                raise SystemExit(f"botocore has no model for {sorted(missing)}")
            for name in names:
                if _kept(name, services, newest):
                    zipped.extract(name, tree)
        # Bytecode for what a function imports when it starts: compiling the rest would add megabytes
        # that no start reads. Hash-checked, so it is used whatever the files' times after Lambda unpacks.
        for source in started_modules(tree, services):
            py_compile.compile(
                str(source), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
            )
        slimmed = Path(work) / "slim.zip"
        with zipfile.ZipFile(slimmed, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as out:
            for path in sorted(tree.rglob("*")):
                if path.is_file():
                    out.write(path, path.relative_to(tree).as_posix())
        shutil.move(slimmed, archive)
    return before, archive.stat().st_size


# Run with only the package and the standard library on the path (-S: no site-packages): what a function
# imports on its first call, app and every module of chalicelib, and a client of each service it uses.
_START = """
import importlib, json, os, pkgutil, sys
tree, services = sys.argv[1], sys.argv[2].split(",")
sys.path.insert(0, tree)
os.environ.update(AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s", AWS_DEFAULT_REGION="us-east-1")
import app, chalicelib
for module in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
    importlib.import_module(module.name)
from chalicelib.platform import aws
for service in services:
    aws.client(service)
import jwt.algorithms
from aws_lambda_powertools.utilities.idempotency import idempotent_function
files = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
print(json.dumps([f for f in files if f.startswith(tree) and f.endswith(".py")]))
"""


def started_modules(tree: Path, services: set[str]) -> list[Path]:
    """The package's modules a function imports to start, found by starting one from the package alone
    (which also shows the package holds everything it needs)."""
    import subprocess

    started = subprocess.run(  # noqa: S603 - our interpreter, our script, the tree we just unpacked
        [sys.executable, "-S", "-c", _START, str(tree), ",".join(sorted(services))],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    if started.returncode != 0:
        raise SystemExit(f"the package does not start on its own:\n{started.stderr}")
    return sorted(Path(path) for path in json.loads(started.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("package", type=Path, help="where `chalice package` wrote sam.json and deployment.zip")
    args = parser.parse_args()
    template = json.loads((args.package / "sam.json").read_text())
    runtimes = {
        r["Properties"]["Runtime"] for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
    }
    running = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if runtimes != {running}:
        raise SystemExit(f"bytecode for {sorted(runtimes)} cannot be compiled by {running}: package with that Python")
    archive = args.package / "deployment.zip"
    before, after = slim(archive, services_used())
    print(f"{archive}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB zipped")


if __name__ == "__main__":
    main()
