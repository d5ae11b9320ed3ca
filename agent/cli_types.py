"""argparse types shared by the command modules: whole numbers with a one-line refusal."""

from __future__ import annotations

import argparse


def whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} is negative" if minimum == 0 else f"{value} is below {minimum}")
    return value


def count(text: str) -> int:
    """A whole number 0 or more."""
    return whole_number(text, 0)


def positive_count(text: str) -> int:
    """A whole number 1 or more."""
    return whole_number(text, 1)
