"""Phone numbers masked wherever julia writes free text about an operation: logs and `last_error`.

Phones reach those texts through exception messages julia does not write: Evolution's 400 names the
number it refused (`"jid": "5511...@s.whatsapp.net"`), an asyncpg unique violation quotes the key
(`Key (telefone)=(+55...)`). So the masking is applied where the text is written, not where it is made:
every log record (a record factory, `mask_logs`, installed by each entrypoint) and every reason a
queue row keeps (julia/services/queues.py).

What counts as a phone: `+` and 8 to 15 digits (E.164, as clientes' CHECK), or 10 to 15 digits standing
alone (the number as Evolution writes it, also inside a WhatsApp JID). Ids inside words (WhatsApp
message ids such as `3EB0...`) are left alone; a bare 10-digit number that is not a phone (an epoch in
seconds) is masked too: hiding a number too many costs less than leaking one. The country code and the
last four digits stay, so an operator can still tell two numbers apart in one incident.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_PHONE = re.compile(r"(?<![\w+])(\+\d{8,15}|\d{10,15})(?!\w)")
_MARK = "_julia_mascara"  # on the installed factory, so a second install is a no-op


def _masked(found: re.Match[str]) -> str:
    numero = found[0]
    inicio = 3 if numero.startswith("+") else 2
    return numero[:inicio] + "*" * (len(numero) - inicio - 4) + numero[-4:]


def mask_phones(texto: str) -> str:
    """`texto` with every phone number masked: `+5511987654321` -> `+55*******4321`."""
    return _PHONE.sub(_masked, texto)


def mask_logs() -> None:
    """From now on every log record of this process has its phones masked, its message and its traceback,
    whatever handler or formatter writes it (uvicorn's worker processes configure their own). Installed as
    a record factory, so it costs nothing for records below the log level (they are never made)."""
    anterior = logging.getLogRecordFactory()
    if getattr(anterior, _MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        registro = anterior(*args, **kwargs)
        try:
            message = registro.getMessage()
        except Exception:  # a bad format string: logging reports it when the record is written
            return registro
        masked = mask_phones(message)
        if masked != message:
            registro.msg, registro.args = masked, None
        if registro.exc_info and not registro.exc_text:
            # Formatters reuse exc_text when set: the traceback's exception messages are masked too.
            registro.exc_text = mask_phones(logging.Formatter().formatException(registro.exc_info))
        return registro

    setattr(factory, _MARK, True)
    logging.setLogRecordFactory(factory)
