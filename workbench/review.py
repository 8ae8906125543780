"""Review tables (pandas): what a profile does to every attribute, and why."""

from __future__ import annotations

from pydicom.datadict import keyword_for_tag

from .profile import Profile, table_rows

CODE_WORDS = {"K": "keep", "X": "remove", "Z": "empty", "D": "dummy", "C": "clean",
              "U": "hash UID", "U*": "keep sequence, hash UIDs inside", "S": "shift date",
              "R": "replace"}


def plan_table(profile: Profile):
    """One row per attribute: tag, keyword, name, basic action, resolved action, the rule.

    Covers every row of Table E.1-1, every override outside it, and every
    private rule (by group, creator and element byte).
    """
    import pandas as pd

    rows = []
    plan = profile.plan
    listed = set()
    for row in table_rows():
        tag = row["tag_int"]
        if tag is None:
            action, rule = _pattern(row, profile)
            rows.append((row["tag"], "", row["name"], row["basicProfile"], action, rule))
            continue
        listed.add(tag)
        a = plan.actions[tag]
        rows.append((row["tag"], keyword_for_tag(tag), row["name"], row["basicProfile"],
                     _describe(a), a.rule))
    for tag, a in sorted(profile.attributes.items()):
        if tag not in listed:
            rows.append((f"({tag >> 16:04X},{tag & 0xFFFF:04X})", keyword_for_tag(tag), "", "",
                         _describe(a), a.rule))
    for r in plan.private:
        el = "xxxx" if r.element is None else f"xx{r.element:02X}"
        rows.append((f"({r.group:04X},{el})", "", f"private: {r.creator}", "X",
                     CODE_WORDS[r.action], r.rule))
    df = pd.DataFrame(rows, columns=["tag", "keyword", "name", "basic", "action", "rule"])
    return df.sort_values("tag", kind="stable", ignore_index=True)


def _describe(a) -> str:
    word = CODE_WORDS.get(a.code, a.code)
    return f"{word} {a.value!r}" if a.code == "R" else word


def _pattern(row, profile: Profile) -> tuple[str, str]:
    if row["tag"].startswith("(GGGG"):
        if "retain_safe_private" in profile.options:
            return "keep if safe (E.3.10-1)", "retain_safe_private: C; other private removed"
        return "remove unless a private rule keeps it", "basic profile: X; creator-aware rules"
    if "clean_graphics" in profile.options:
        return "keep (pixel review)", "clean_graphics: C"
    return "remove", "basic profile: X (whole repeating group removed)"
