"""The option files of the official FOCI evaluation: moved to ``fgvr.options`` (DESIGN.md);
these names are kept for the callers that read and match the files from here."""
from __future__ import annotations

from ..options import attach_foci as attach, read_foci as read_options

__all__ = ["attach", "read_options"]
