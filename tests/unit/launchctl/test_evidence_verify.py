"""`launchctl evidence verify FILE`: the offline check, its words and its exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.domain.evidence_chain import EVIDENCE_FORMAT
from launchctl import cli
from tests.unit.domain.test_evidence_chain import LAUNCH, chain, sealed


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def files(tmp_path: Path, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    timeline = chain(LAUNCH, 5)
    document = {
        "format": EVIDENCE_FORMAT,
        "launch_id": LAUNCH,
        "timeline": timeline,
        "head": {"sequence": 5, "digest": timeline[-1]["digest"]},
        "seal": sealed(timeline, key),
    }
    evidence, public = tmp_path / "evidence.json", tmp_path / "evidence-key.pem"
    evidence.write_text(json.dumps(document))
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return evidence, public


def test_an_untouched_file_holds_with_the_pinned_key(files: tuple[Path, Path], capsys: Any) -> None:
    evidence, public = files
    assert cli.main(["evidence", "verify", str(evidence), "--public-key", str(public)]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert f"launch {LAUNCH}: 5 events, 5 chained, sealed through event 5 with the pinned key" in out
    assert "holds: nothing was changed" in out


def test_an_edited_file_does_not_hold_and_names_the_event(files: tuple[Path, Path], capsys: Any) -> None:
    evidence, public = files
    document = json.loads(evidence.read_text())
    document["timeline"][1]["event"]["details"] = {"approved_by": "someone else"}
    evidence.write_text(json.dumps(document))
    assert cli.main(["evidence", "verify", str(evidence), "--public-key", str(public)]) == cli.EXIT_EVIDENCE_BROKEN
    assert "DOES NOT HOLD at event 2: its content does not match its digest" in capsys.readouterr().out
    assert cli.main(["evidence", "verify", str(evidence), "--json"]) == cli.EXIT_EVIDENCE_BROKEN
    answer = json.loads(capsys.readouterr().out)
    assert (answer["holds"], answer["problem"]["sequence"]) == (False, 2)


@pytest.mark.parametrize(("content", "said"), [(None, "cannot read"), ("[1, 2]", "not a launch's evidence")])
def test_a_missing_or_foreign_file_is_a_usage_error(
    tmp_path: Path, capsys: Any, content: str | None, said: str
) -> None:
    path = tmp_path / "evidence.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["evidence", "verify", str(path)]) == cli.EXIT_USAGE
    assert said in capsys.readouterr().err
