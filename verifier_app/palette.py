"""The verifier's colours, in one place so a test can check every text/background pair for contrast
(WCAG 2.1 1.4.3: at least 4.5:1). Greens and ambers are darkened until white text on them passes."""

from __future__ import annotations

Colour = tuple[float, float, float, float]

PAGE: Colour = (0.97, 0.97, 0.96, 1)
INK: Colour = (0.1, 0.1, 0.12, 1)
MUTED: Colour = (0.3, 0.32, 0.36, 1)
WARN: Colour = (0.66, 0.08, 0.08, 1)  # a stale trust list on the light page
NOTE: Colour = (0.5, 0.25, 0.0, 1)  # scanning progress on the light page
BUTTON: Colour = (0.12, 0.33, 0.62, 1)
QUIET: Colour = (0.85, 0.87, 0.9, 1)
WHITE: Colour = (1, 1, 1, 1)
VERDICT: dict[str, Colour] = {
    "accept": (0.0, 0.42, 0.16, 1),
    "reject": (0.72, 0.08, 0.08, 1),
    "refer": (0.6, 0.3, 0.0, 1),
}
NEUTRAL: Colour = (0.3, 0.3, 0.3, 1)
DONE: Colour = (0.0, 0.0, 0.0, 0.3)  # the Done button: darker than the verdict colour it sits on

def over(top: Colour, bottom: Colour) -> Colour:
    """``top`` drawn with its alpha over an opaque ``bottom``."""
    a = top[3]
    return (top[0] * a + bottom[0] * (1 - a), top[1] * a + bottom[1] * (1 - a), top[2] * a + bottom[2] * (1 - a), 1)


# (text, background) pairs the screens use: checked by tests/test_verifier_app.py
PAIRS: list[tuple[str, Colour, Colour]] = [
    ("page text", INK, PAGE),
    ("page muted text", MUTED, PAGE),
    ("stale trust line", WARN, PAGE),
    ("scan progress", NOTE, PAGE),
    ("big buttons", WHITE, BUTTON),
    ("quiet buttons", INK, QUIET),
    *[(f"{name} verdict text", WHITE, colour) for name, colour in VERDICT.items()],
    ("neutral verdict text", WHITE, NEUTRAL),
    *[(f"Done button on {name}", WHITE, over(DONE, colour)) for name, colour in VERDICT.items()],
]


def contrast(text: Colour, background: Colour) -> float:
    """WCAG 2.1 contrast ratio of two opaque colours."""

    def luminance(c: Colour) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2])

    high, low = sorted((luminance(text), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)
