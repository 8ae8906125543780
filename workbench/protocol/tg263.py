"""AAPM TG-263 structure names: the shipped list, the name check and suggestions."""

from __future__ import annotations

import difflib
import re
from functools import cache
from importlib import resources

#: TG-263 target names: type, classifier, number, then "_" and a level, Eval or a dose.
TG263_TARGET = re.compile(r"(GTV|CTV|ITV|IGTV|ICTV|PTV)(p|n|m|sb|par|v|vas)?\d*"
                          r"(_(High|Mid|Low|Eval|\d+(\.\d+)?(Gy)?))*")
PRV = re.compile(r"(.+)_PRV\d{0,2}")


# --- TG-263 ---------------------------------------------------------------------------

@cache
def tg263_names() -> tuple[str, ...]:
    """The shipped TG-263 standard names (``workbench/data/tg263-names.txt``)."""
    text = resources.files("workbench").joinpath("data/tg263-names.txt").read_text()
    return tuple(line.strip() for line in text.splitlines()
                 if line.strip() and not line.startswith("#"))


def is_tg263(name: str) -> bool:
    """Whether ``name`` is a TG-263 name: listed, a target pattern, or a listed organ's PRV."""
    names = set(tg263_names())
    prv = PRV.fullmatch(name)
    return name in names or bool(TG263_TARGET.fullmatch(name)) or bool(prv and prv[1] in names)


#: Common names the word match and difflib miss, by :func:`_key`.
ALIASES = {"body": "External", "outline": "External", "patient": "External",
           "cord": "SpinalCord", "bowelbag": "Bag_Bowel"}
_SIDES = {"l": "L", "lt": "L", "left": "L", "r": "R", "rt": "R", "right": "R"}


def structure_key(name: str) -> str:
    """A name without case, separators or laterality words, laterality moved to the end."""
    words = [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
                                 .lower()) if w]
    sides = [_SIDES[w] for w in words if w in _SIDES]
    return "".join(w for w in words if w not in _SIDES) + "".join(sides[:1]).lower()


def tg263_suggestions(name: str, n: int = 3) -> list[str]:
    """The TG-263 names closest to ``name`` (same words first, then difflib)."""
    names = tg263_names()
    keys = {structure_key(s): s for s in names}
    found = [keys[structure_key(name)]] if structure_key(name) in keys else []
    found += [ALIASES[structure_key(name)]] if structure_key(name) in ALIASES else []
    for k in difflib.get_close_matches(structure_key(name), list(keys), n=n, cutoff=0.6):
        found.append(keys[k])
    found += difflib.get_close_matches(name, names, n=n, cutoff=0.6)
    return list(dict.fromkeys(found))[:n]


