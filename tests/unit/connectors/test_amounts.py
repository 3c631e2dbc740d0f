"""Deal amounts as CRMs send them: every connector reads the same text the
same way, and what could mean two things is no amount at all."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.amounts import NotAnAmount, parse_amount


@pytest.mark.parametrize(
    ("value", "amount"),
    [
        ("12500", 12500.0),
        ("12,500 USD", 12500.0),
        ("$12,500.00", 12500.0),
        ("USD 1,234,567.5", 1234567.5),
        ("€ 900", 900.0),
        ("900 €", 900.0),
        ("US$ 2,000", 2000.0),
        ("-500", -500.0),
        ("-$500", -500.0),
        ("$-500", -500.0),
        ("  49999.99 ", 49999.99),
        ("1e-300", 1e-300),
        ("1e308", 1e308),
        (".5", 0.5),
        (12000, 12000.0),
        (1250.5, 1250.5),
        (None, None),
        ("", None),
    ],
)
def test_an_amount_that_says_one_number_is_that_number(value: Any, amount: float | None) -> None:
    assert parse_amount(value) == amount


@pytest.mark.parametrize(
    "value",
    [
        "n/a",
        "$12k",
        "twelve",
        "12.500,00",  # a European 12,500: or 12.5?
        "1,5",  # 1.5, or a typo for 15?
        "12,50",
        "1,2345",
        "-$-500",
        "(500)",
        "12 500",
        "12500 dollars",
        "nan",
        "inf",
        "-Infinity",
        "1e999",
        "1_000",
        "٣٠٠",
        "<!channel>",
        "x" * 100_000,
        10**400,
        True,
        ["5"],
        {"amount": 5},
        float("nan"),
    ],
)
def test_anything_else_is_not_an_amount(value: Any) -> None:
    with pytest.raises(NotAnAmount):
        parse_amount(value)


def test_a_long_value_is_not_logged_whole() -> None:
    with pytest.raises(NotAnAmount) as raised:
        parse_amount("9" * 1000 + "x")
    assert len(str(raised.value)) < 100
