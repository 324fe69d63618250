"""Phones masked in free text (julia/masking.py): what is a phone, what is not, and every log record."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from julia.masking import mask_logs, mask_phones


@pytest.mark.parametrize(
    ("texto", "expected"),
    [
        ("+5511987654321", "+55*******4321"),
        ("number 5511987654321 refused", "number 55*******4321 refused"),
        ('{"jid": "5511987654321@s.whatsapp.net"}', '{"jid": "55*******4321@s.whatsapp.net"}'),
        ("Key (telefone)=(+5511987654321) already exists", "Key (telefone)=(+55*******4321) already exists"),
        ("+14155550123 and +551187654321", "+14*****0123 and +55******4321"),
        # Not phones: ids inside words, short numbers, runs longer than E.164.
        ("3EB0C767D26A1B2E5511987654321", "3EB0C767D26A1B2E5511987654321"),
        ("fila_mensagens 123456 failed (try 3)", "fila_mensagens 123456 failed (try 3)"),
        ("HTTP 400", "HTTP 400"),
        ("12345678901234567890", "12345678901234567890"),
    ],
)
def test_mask_phones(texto: str, expected: str) -> None:
    assert mask_phones(texto) == expected


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """A logger writing to a buffer, with the process's record factory restored after the test."""
    factory = logging.getLogRecordFactory()
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.mascara")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    mask_logs()
    mask_logs()  # a second install (uvicorn's worker after julia's main) changes nothing
    try:
        yield buffer
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(factory)


def test_every_log_record_goes_out_masked(output: io.StringIO) -> None:
    log = logging.getLogger("tests.mascara")
    log.error("handoff of %s not notified on Slack: %s", "+5511987654321", "boom")
    try:
        raise RuntimeError("evolution: HTTP 400: 5511987654321@s.whatsapp.net does not exist")
    except RuntimeError:
        log.exception("fila_mensagens %s: unexpected failure", 7)
    # A bad format string is still logging's to report when written, not an error where it is logged.
    factory = logging.getLogRecordFactory()
    registro = factory("x", logging.WARNING, __file__, 1, "bad format %s %s", ("only one",), None)
    assert registro.args == ("only one",)

    texto = output.getvalue()
    assert "5511987654321" not in texto
    assert "handoff of +55*******4321 not notified on Slack: boom" in texto
    assert "RuntimeError: evolution: HTTP 400: 55*******4321@s.whatsapp.net does not exist" in texto
    assert "fila_mensagens 7: unexpected failure" in texto
