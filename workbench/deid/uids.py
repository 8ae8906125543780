"""UID remapping by a keyed hash of the trial secret and the original UID."""

from __future__ import annotations

import hashlib
import hmac

from pydicom.uid import UID_dictionary


def is_well_known(uid: str) -> bool:
    """True for UIDs defined by DICOM itself (SOP classes, transfer syntaxes, ...)."""
    return uid in UID_dictionary or uid.startswith("1.2.840.10008.")


def remap_uid(uid: str, secret: bytes, root: str = "2.25") -> str:
    """Map ``uid`` to a new UID under ``root`` (at most 64 characters).

    The same secret and UID always give the same result, so references
    between objects keep resolving; well-known UIDs are returned unchanged.

    >>> remap_uid("1.2.3", b"k") == remap_uid("1.2.3", b"k") != remap_uid("1.2.3", b"j")
    True
    """
    uid = uid.strip().rstrip("\x00")
    if not uid or is_well_known(uid):
        return uid
    digest = hmac.new(secret, b"uid:" + uid.encode("ascii", "replace"), hashlib.sha256).digest()
    if root == "2.25":
        return f"2.25.{int.from_bytes(digest[:16], 'big')}"
    digits = str(int.from_bytes(digest, "big"))
    return f"{root}.{digits[: 64 - len(root) - 1]}"
