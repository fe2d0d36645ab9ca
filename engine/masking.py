"""Masking of personal data for callers without the unmask right.

  mask_text("张三丰")              -> "张*丰"   (keep first and last character)
  mask_phone("+8613812345678")    -> "138****5678"
  mask_email("alice@example.com") -> "a***@example.com"
"""
from __future__ import annotations

STAR = "*"


def mask_text(value: str) -> str:
    """Keep the first and last character; one or two characters become stars after the first."""
    if len(value) <= 1:
        return STAR
    if len(value) == 2:
        return value[0] + STAR
    return value[0] + STAR * (len(value) - 2) + value[-1]


def mask_phone(value: str) -> str:
    """Keep the first three and the last four digits of the national number.

    Chinese numbers (+86) are shown without the country code (138****5678);
    other E.164 numbers keep their "+<country code>" prefix.
    """
    prefix, national = "", value
    if value.startswith("+"):
        try:
            import phonenumbers
            parsed = phonenumbers.parse(value, None)
            code = str(parsed.country_code)
            national = value[1 + len(code):]
            prefix = "" if code == "86" else f"+{code} "
        except Exception:  # not E.164: mask the whole text
            prefix, national = "", value
    if len(national) <= 7:
        return prefix + mask_text(national)
    return prefix + national[:3] + STAR * (len(national) - 7) + national[-4:]


def mask_email(value: str) -> str:
    """Keep the first character of the local part and the whole domain."""
    local, at, domain = value.rpartition("@")
    if not at:
        return mask_text(value)
    return (local[:1] + "***" if local else "***") + "@" + domain
