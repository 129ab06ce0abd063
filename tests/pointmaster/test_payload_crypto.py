"""AES-256-GCM payloads for the point master, and the README's decryption recipe."""

from __future__ import annotations

import base64
import contextlib
import io
import re
from pathlib import Path

import pytest

from core.payload_crypto import PayloadDecryptionError, decrypt_json, encrypt_json, new_key
from tests.pointmaster.conftest import fixture

README = Path(__file__).resolve().parent.parent.parent / "README.md"


@pytest.mark.parametrize(
    "name",
    ["voyado_add_points_decrypted_manual.json", "voyado_add_points_decrypted_automation.json"],
)
def test_the_decrypted_payload_has_the_fixture_fields(name: str) -> None:
    # given a key shared with the master and the fixture's adjustment
    key, adjustment = new_key(), fixture(name)
    # when it is encrypted and decrypted
    payload = encrypt_json(adjustment, key)
    # then the master reads back exactly the fixture's fields, and the ciphertext hides them
    assert decrypt_json(payload, key) == adjustment
    assert "ContactId" not in payload and adjustment["ContactId"] not in payload
    assert encrypt_json(adjustment, key) != payload  # a fresh nonce every time


def test_tampering_or_another_key_fails() -> None:
    key = new_key()
    payload = encrypt_json(fixture("voyado_add_points_decrypted_manual.json"), key)
    raw = bytearray(base64.b64decode(payload))
    for index in (0, 20, len(raw) - 1):  # nonce, ciphertext, tag
        tampered = raw.copy()
        tampered[index] ^= 0x01
        with pytest.raises(PayloadDecryptionError):
            decrypt_json(base64.b64encode(bytes(tampered)).decode(), key)
    with pytest.raises(PayloadDecryptionError):
        decrypt_json(payload, new_key())
    with pytest.raises(PayloadDecryptionError):
        decrypt_json(base64.b64encode(bytes(raw[:20])).decode(), key)
    with pytest.raises(PayloadDecryptionError):
        decrypt_json("not base64!", key)


def test_the_readme_recipe_runs_and_decrypts_the_fixture() -> None:
    # given the README's decryption example
    section = README.read_text().split("## Point-master sync", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    # when it runs
    scope: dict[str, object] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), "README.md", "exec"), scope)
    # then it reads the manual adjustment of the fixture
    assert scope["data"] == fixture("voyado_add_points_decrypted_manual.json")
    assert out.getvalue().split() == ["1dfe06cd-a1be-4423-8ed4-afd900d998aa", "40", "Manual"]
