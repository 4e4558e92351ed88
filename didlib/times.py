"""Coarse times for what an issuer writes into a credential and a certificate.

A credential's times (ISO/IEC 18013-5 ``validityInfo``, SD-JWT VC ``iat``/``exp``) are seen by every verifier.
To the second they single out one issuance (a batch of proofs of age shares them), so two verifiers comparing
notes could link two presentations of one person. Rounded to the start of a UTC day, they say only what
everyone issued that day shares.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["day_start"]


def day_start(moment: dt.datetime) -> dt.datetime:
    """The start (00:00:00Z) of the UTC day that ``moment`` falls in."""
    return dt.datetime.combine(moment.astimezone(dt.UTC).date(), dt.time(), dt.UTC)
