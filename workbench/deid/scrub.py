"""The written forms of a subject's identifiers, and one matcher for them in kept text.

A name is matched as whole tokens: each component of three or more characters, the
components together ("Li Wei", "Wei, Li", "LiWei", so one- and two-letter parts count
beside another part), and their spellings without diacritics or transliterated
(Müller, Muller, Mueller). In scripts written without word spaces (CJK, kana,
hangul) components of two or more characters match anywhere. Identifying dates
match in their common written forms (1947-03-12, 12/03/1947, 03/12/1947,
12.03.1947, 12 Mar 1947, March 12, 1947). IDs of five or more characters with a
digit match inside longer tokens (MRN48213); an all-digit ID only where no digit
stands beside it.
"""

from __future__ import annotations

import calendar
import re
import unicodedata

TRANSLITERATION = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ø": "oe",
                                 "å": "aa", "æ": "ae", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue",
                                 "Ø": "Oe", "Å": "Aa", "Æ": "Ae", "œ": "oe", "Œ": "Oe"})
UNMARKED = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ß": "ss",
                         "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ı": "i"})
NAME_SPLIT = re.compile(r"[\^=,\s]+")


def unspaced(text: str) -> bool:
    """True for text in a script written without word spaces (CJK, kana, hangul)."""
    return any(unicodedata.east_asian_width(ch) in ("W", "F") and ch.isalpha() for ch in text)


def spellings(text: str) -> list[str]:
    """``text`` as written, without diacritics, and transliterated."""
    plain = "".join(ch for ch in unicodedata.normalize("NFKD", text)
                    if not unicodedata.combining(ch)).translate(UNMARKED)
    return list(dict.fromkeys([text, plain, text.translate(TRANSLITERATION)]))


def name_forms(name: str) -> list[str]:
    """The forms of one person name (DICOM PN, any of its groups) to find in text."""
    forms: list[str] = []
    for group in name.split("="):
        parts = [p for p in NAME_SPLIT.split(group) if p]
        forms += [p for p in parts if len(p) >= 3 or (len(p) >= 2 and unspaced(p))]
        if len(parts) >= 2:
            a, b = parts[0], parts[1]
            forms += [f"{a} {b}", f"{b} {a}", f"{a}, {b}", f"{b}, {a}", a + b, b + a]
    return list(dict.fromkeys(s for f in forms for s in spellings(f)))


def date_forms(da: str) -> list[str]:
    """A DICOM date (YYYYMMDD) in the ways people write dates."""
    if not re.fullmatch(r"\d{8}", da):
        return [da] if len(da) >= 3 else []
    y, m, d = da[:4], da[4:6], da[6:]
    if not (1 <= int(m) <= 12 and 1 <= int(d) <= 31):
        return [da]
    forms = [da, f"{y}-{m}-{d}", f"{y}/{m}/{d}", f"{y}.{m}.{d}", f"{d}/{m}/{y}",
             f"{m}/{d}/{y}", f"{d}.{m}.{y}", f"{d}-{m}-{y}", f"{m}-{d}-{y}"]
    for month in (calendar.month_name[int(m)], calendar.month_abbr[int(m)]):
        for day in dict.fromkeys([d, str(int(d))]):
            forms += [f"{day} {month} {y}", f"{month} {day}, {y}", f"{month} {day} {y}",
                      f"{day}-{month}-{y}", f"{day}. {month} {y}"]
    return list(dict.fromkeys(forms))


def is_embedded_id(text: str) -> bool:
    """IDs of five or more characters with a letter and a digit match inside longer words."""
    return len(text) >= 5 and any(ch.isdigit() for ch in text) and not text.isdigit()


def is_number_id(text: str) -> bool:
    """All-digit IDs of five or more digits match where no digit stands beside them."""
    return len(text) >= 5 and text.isdigit()


def pattern(needles: list[str]) -> str:
    """A regex for ``needles``: names as whole tokens, IDs and unspaced names anywhere,
    all-digit IDs between non-digits."""
    ordered = sorted(needles, key=len, reverse=True)
    anywhere = [n for n in ordered if is_embedded_id(n) or unspaced(n)]
    numbers = [n for n in ordered if is_number_id(n)]
    words = [n for n in ordered if n not in anywhere and n not in numbers]
    parts = []
    if words:
        parts.append(rf"(?<![^\W_])(?:{'|'.join(map(re.escape, words))})(?![^\W_])")
    if numbers:
        parts.append(rf"(?<!\d)(?:{'|'.join(map(re.escape, numbers))})(?!\d)")
    if anywhere:
        parts.append("|".join(map(re.escape, anywhere)))
    return "|".join(parts)
