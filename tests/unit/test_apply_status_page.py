"""The borrower's status page says where the loan stands once the application is in (it used to say "we are
reviewing it" whatever happened next), and links the loan's payment page once it is disbursed or closed."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from api.pages.borrower_flow import CALLBACK_WINDOWS
from api.web import templates

READ_ON = {
    "pending": ("Application", "we are reviewing it"),
    "cx_approved": ("Application", "we are reviewing it"),
    "rejected": ("Application", "we cannot offer this loan now"),
    "cancelled": ("Application", "was cancelled"),
    "sm_approved": ("Application", "Sign the loan agreement"),
    "awaiting_disbursal": ("Application", "on its way to your bank account"),
    "active": ("Loan", "disbursed and being repaid"),
    "overdue": ("Loan", "a payment is overdue"),
    "completed": ("Loan", "fully paid"),
    "settled": ("Loan", "closed as settled"),
}


@pytest.mark.parametrize(("status", "says"), list(READ_ON.items()))
def test_the_status_page_says_where_the_loan_stands(status: str, says: tuple[str, str]) -> None:
    pay_link = "/pay/TOKEN" if status in ("active", "overdue", "completed", "settled") else None
    html = templates.get_template("apply_status.html").render(
        request=SimpleNamespace(), brand="demo", base="/apply/demo", done=True,
        funnel=SimpleNamespace(status=SimpleNamespace(value="completed"), steps=[], next_step=None, reason=None),
        application=SimpleNamespace(status=status, loan_number="DEMO-L-000042"), can_submit=False, csrf="x",
        form_steps=(), labels={}, documents_missing=None, pay_link=pay_link, windows=CALLBACK_WINDOWS,
    )  # fmt: skip
    found = re.search(r'<p id="application">(.*?)</p>', html, re.S)
    assert found is not None
    kind, words = says
    assert found.group(1).startswith(kind) and words in found.group(1), found.group(1)
    assert ('href="/pay/TOKEN" id="loan-payments"' in html) == (pay_link is not None)
