"""CRM text made safe to show inside alignmon's own wording.

Names come from the CRM (owners, leads, segment values) and are placed into
titles and lines that Slack renders as mrkdwn and that terminals print. Shown
literally means: invisible format characters removed (U+202E and the other
bidi controls would reverse the rest of a title; zero-width ones hide text),
newlines folded to one space (a title is one line), and mrkdwn markers that
could open or close styling (``*``, ``_``, ``~``, a backtick at a word's
edge) replaced by look-alikes that Slack does not read as markup. A marker
between two letters or digits (``mql_follow_up``) cannot style anything and
is kept. Slack's three control characters are escaped later, by the
renderer, once.
"""

from __future__ import annotations

import re

#: Control and format characters that have no business in a name or a
#: message: C0/C1 controls other than tab and newline, the soft hyphen, bidi
#: marks, embeddings, overrides and isolates, zero-width characters, the
#: BOM and interlinear annotations.
INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]"
)
_BREAKS = re.compile("[\t\n\r\x0b\x0c\x85\u2028\u2029]+")
_MARKERS = {"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"}
_MARKER = re.compile(r"[*_~`]")


def visible(text: str) -> str:
    """``text`` without invisible control and format characters (newlines
    and tabs kept): for alignmon's own multi-line wording."""
    return INVISIBLE.sub("", text)


def shown_name(text: str) -> str:
    """A CRM value as one literal line (see the module docstring)."""
    text = _BREAKS.sub(" ", INVISIBLE.sub("", text))

    def neutral(match: re.Match[str]) -> str:
        at = match.start()
        before = text[at - 1] if at else ""
        after = text[at + 1] if at + 1 < len(text) else ""
        if before.isalnum() and after.isalnum():
            return match.group()
        return _MARKERS[match.group()]

    return _MARKER.sub(neutral, text)
