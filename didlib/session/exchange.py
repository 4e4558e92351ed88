"""Run a whole proximity exchange over a transport: the loops every app would otherwise rewrite."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from didlib.errors import DidlibError
from didlib.mdoc.verifier import VerificationResult
from didlib.session.holder import HolderSession, PendingRequest
from didlib.session.reader import ReaderSession
from didlib.session.transport import Transport

__all__ = ["serve_holder", "run_reader"]

Consent = dict[str, dict[str, list[str]]]


def serve_holder(
    holder: HolderSession,
    transport: Transport,
    decide: Callable[[PendingRequest], Consent | None],
    timeout: float = 30.0,
) -> bool:
    """Answer one reader: ``decide`` shows the request to the holder and returns consent, or None to
    decline. Returns whether anything was shared. Protocol errors are answered with a status, then raised."""
    try:
        pending = holder.receive(transport.receive(timeout))
    except DidlibError as exc:
        transport.send(holder.error_message(exc))
        raise
    consent = decide(pending)
    if consent is None:
        transport.send(holder.decline())
        return False
    transport.send(holder.respond(consent))
    with contextlib.suppress(DidlibError):  # a reader that leaves without a goodbye changes nothing
        holder.receive_followup(transport.receive(timeout))
    return True


def run_reader(reader: ReaderSession, transport: Transport, timeout: float = 60.0) -> VerificationResult:
    """Ask, wait for the holder (who may take a while to decide), verify, say goodbye."""
    transport.send(reader.start())
    result = reader.receive(transport.receive(timeout))
    transport.send(reader.terminate())
    return result
