"""How an amount of money reads to Indian staff and borrowers: `₹12,34,567.50` (lakh and crore grouping, paise,
the rupee sign; `-₹500.00` when negative). Every page, message and refusal that shows an amount uses `rupees`."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

PAISA = Decimal("0.01")


def rupees(value: object, *, paise: bool = True) -> str:
    """`₹12,34,567.50`; with `paise=False` a whole amount drops its `.00` (`₹55,000`, for an offered or requested
    loan amount) while one with paise keeps them. What is not a number (None, text) reads `—`."""
    try:
        amount = Decimal(str(value)).quantize(PAISA)
    except (InvalidOperation, ValueError):
        return "—"
    whole, fraction = f"{abs(amount):.2f}".split(".")
    if len(whole) > 3:
        head, groups = whole[:-3], [whole[-3:]]
        while head:
            groups.insert(0, head[-2:])
            head = head[:-2]
        whole = ",".join(groups)
    shown = whole if not paise and fraction == "00" else f"{whole}.{fraction}"
    return f"{'-' if amount < 0 else ''}₹{shown}"
