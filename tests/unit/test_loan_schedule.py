"""Schedules and due dates (LENDING.md "Schedules", "Due dates"): worked examples."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.loans.due_dates import RepaymentCalendar, add_months_clamped, emi_due_date, payday_due_date
from domain.loans.schedule import Schedule, build_schedule, emi_amount
from domain.loans.terms import LoanKind, LoanTerms
from domain.shared.errors import InvalidInput, InvalidValue

D = Decimal
SUNDAYS_OFF = RepaymentCalendar()
EVERY_DAY = RepaymentCalendar(sunday_off=False)


def emi_loan(principal: str, annual: str, months: int, on: date = date(2024, 1, 10), cal: RepaymentCalendar = SUNDAYS_OFF) -> Schedule:  # fmt: skip
    terms = LoanTerms(kind=LoanKind.EMI, principal=D(principal), tenure=months, annual_percent=D(annual))
    return build_schedule(terms, on, cal)


def payday_loan(principal: str, daily: str, days: int, on: date, cal: RepaymentCalendar = SUNDAYS_OFF) -> Schedule:
    terms = LoanTerms(kind=LoanKind.PAYDAY, principal=D(principal), tenure=days, daily_percent=D(daily))
    return build_schedule(terms, on, cal)


def rows(schedule: Schedule) -> list[tuple[str, str, str, str]]:
    return [(str(i.opening), str(i.principal), str(i.interest), str(i.amount)) for i in schedule.instalments]


def test_emi_on_a_reducing_balance_with_the_last_instalment_taking_the_remaining_principal() -> None:
    s = emi_loan("100000.00", "24", 12)
    # r = 0.02: EMI = 100000 * 0.02 * 1.02^12 / (1.02^12 - 1) = 9455.9597 -> 9455.96
    assert s.emi == D("9455.96")
    table = rows(s)
    assert table[0] == ("100000.00", "7455.96", "2000.00", "9455.96")  # interest = 100000 * 0.02
    assert table[1] == ("92544.04", "7605.08", "1850.88", "9455.96")  # 92544.04 * 0.02 = 1850.8808
    # The last instalment repays what is left (9270.56) with round(9270.56 * 0.02) = 185.41: one paisa over the EMI.
    assert table[-1] == ("9270.56", "9270.56", "185.41", "9455.97")
    assert sum(i.principal for i in s.instalments) == D("100000.00")
    assert s.total_interest == D("13471.53")


def test_interest_is_exact_at_a_half_paisa_a_truncated_monthly_rate_would_round_down() -> None:
    # 15,54,222.00 * 7 / 1200 = 9066.295 exactly -> 9066.30 (a 28-digit Decimal r gives 9066.29).
    s = emi_loan("1554222.00", "7", 12)
    assert s.instalments[0].interest == D("9066.30")
    # 10000.20 at 10 % for one month: interest 83.335 -> 83.34; EMI = round(10000.20 * (1 + 1/120)) = 10083.54.
    one = emi_loan("10000.20", "10", 1)
    assert rows(one) == [("10000.20", "10000.20", "83.34", "10083.54")]
    assert one.emi == D("10083.54")


def test_zero_rate_divides_the_principal_and_the_last_instalment_takes_the_remainder() -> None:
    s = emi_loan("1000.00", "0", 3)
    assert s.emi == D("333.33")
    assert rows(s) == [
        ("1000.00", "333.33", "0.00", "333.33"),
        ("666.67", "333.33", "0.00", "333.33"),
        ("333.34", "333.34", "0.00", "333.34"),
    ]
    # 100 / 6 = 16.666… -> 16.67 five times (83.35), the sixth repays 16.65.
    six = emi_loan("100.00", "0", 6)
    assert [i.principal for i in six.instalments] == [D("16.67")] * 5 + [D("16.65")]


def test_emi_amount_matches_the_textbook_formula() -> None:
    assert emi_amount(D("500000.00"), D("10.5"), 60) == D("10746.95")  # standard 5-year 10.5 % EMI on 5 lakh
    assert emi_amount(D("1200.00"), D("0"), 12) == D("100.00")


def test_payday_interest_is_daily_for_the_tenure_on_one_bullet_instalment() -> None:
    s = payday_loan("10000.00", "1", 30, date(2024, 3, 4))
    assert s.emi is None
    [only] = s.instalments
    assert (only.principal, only.interest, only.amount) == (D("10000.00"), D("3000.00"), D("13000.00"))
    assert only.due_date == date(2024, 4, 3)
    # 1234.50 * 0.05 % * 7 = 4.32075 -> 4.32
    assert payday_loan("1234.50", "0.05", 7, date(2024, 3, 4)).instalments[0].interest == D("4.32")


def test_a_31_january_disbursal_falls_due_on_each_months_last_day_in_a_leap_year() -> None:
    dues = [i.due_date for i in emi_loan("12000.00", "12", 5, date(2024, 1, 31), EVERY_DAY).instalments]
    assert dues == [date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30), date(2024, 5, 31), date(2024, 6, 30)]


def test_a_31_january_disbursal_in_a_common_year_clamps_to_28_february_and_comes_back_to_31_march() -> None:
    dues = [emi_due_date(date(2023, 1, 31), k, EVERY_DAY) for k in (1, 2, 3)]
    assert dues == [date(2023, 2, 28), date(2023, 3, 31), date(2023, 4, 30)]


def test_due_dates_keep_the_disbursal_day_not_the_month_end() -> None:
    # Disbursed on 28 Feb 2023 (a month end): the 28th of each month, never the 31st.
    assert [add_months_clamped(date(2023, 2, 28), k) for k in (1, 2)] == [date(2023, 3, 28), date(2023, 4, 28)]
    # Disbursed on 29 Feb 2024: 29 Mar, ..., then 28 Feb 2025.
    assert add_months_clamped(date(2024, 2, 29), 1) == date(2024, 3, 29)
    assert add_months_clamped(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months_clamped(date(2024, 11, 30), 3) == date(2025, 2, 28)


def test_a_sunday_due_date_moves_to_monday_only_when_the_brand_keeps_sundays_off() -> None:
    # 31 Mar 2024 and 30 Jun 2024 are Sundays.
    assert emi_due_date(date(2024, 1, 31), 2, SUNDAYS_OFF) == date(2024, 4, 1)
    assert emi_due_date(date(2024, 1, 31), 2, EVERY_DAY) == date(2024, 3, 31)
    assert emi_due_date(date(2024, 1, 31), 5, SUNDAYS_OFF) == date(2024, 7, 1)


def test_a_holiday_then_a_sunday_then_another_holiday_move_the_due_date_repeatedly() -> None:
    # 29 days after 1 Mar 2024 is Saturday 30 Mar (a holiday), then Sunday 31 Mar, then Monday 1 Apr (a holiday).
    cal = RepaymentCalendar(holidays=frozenset({date(2024, 3, 30), date(2024, 4, 1)}))
    assert payday_due_date(date(2024, 3, 1), 29, cal) == date(2024, 4, 2)
    assert payday_due_date(date(2024, 3, 1), 29, SUNDAYS_OFF) == date(2024, 3, 30)


def test_the_month_after_a_moved_due_date_is_counted_from_the_disbursal_day_again() -> None:
    # 10 Mar 2024 is a Sunday: instalment 2 moves to 11 Mar, instalment 3 is still on the 10th.
    dues = [i.due_date for i in emi_loan("3000.00", "12", 3, date(2024, 1, 10)).instalments]
    assert dues == [date(2024, 2, 10), date(2024, 3, 11), date(2024, 4, 10)]


def test_moving_due_dates_changes_no_amount() -> None:
    holidays = RepaymentCalendar(holidays=frozenset({date(2024, 2, 29), date(2024, 4, 30), date(2024, 5, 31)}))
    shifted = emi_loan("250000.00", "18", 6, date(2024, 1, 31), holidays)
    plain = emi_loan("250000.00", "18", 6, date(2024, 1, 31), EVERY_DAY)
    assert rows(shifted) == rows(plain)
    assert [i.due_date for i in shifted.instalments][:4] == [
        date(2024, 3, 1),
        date(2024, 4, 1),
        date(2024, 5, 1),
        date(2024, 6, 1),
    ]
    payday_shifted = payday_loan("5000.00", "0.5", 29, date(2024, 3, 1), RepaymentCalendar(holidays=frozenset({date(2024, 3, 30)})))  # fmt: skip
    assert payday_shifted.instalments[0].interest == payday_loan("5000.00", "0.5", 29, date(2024, 3, 1)).instalments[0].interest  # fmt: skip


def test_holidays_that_push_one_instalment_onto_the_next_are_refused() -> None:
    month = frozenset(date(2024, 2, 10) + timedelta(days=n) for n in range(40))  # 10 Feb to 20 Mar
    with pytest.raises(InvalidValue) as caught:
        emi_loan("3000.00", "12", 3, date(2024, 1, 10), RepaymentCalendar(holidays=month))
    assert caught.value.field == "holidays"


def test_a_principal_too_small_for_its_tenure_is_refused() -> None:
    # 1.10 / 20 = 0.055 -> 0.06 a month repays 1.14 in 19 months: more than was lent.
    with pytest.raises(InvalidValue) as caught:
        emi_loan("1.10", "0", 20)
    assert caught.value.field == "principal"


def test_terms_must_carry_the_rate_of_their_kind_and_a_tenure_within_bounds() -> None:
    terms = LoanTerms(kind=LoanKind.EMI, principal=D("1000"), tenure=0, daily_percent=D("1"))
    with pytest.raises(InvalidInput) as caught:
        build_schedule(terms, date(2024, 1, 1), SUNDAYS_OFF)
    assert {e.field for e in caught.value.errors} == {"tenure", "annual_percent", "daily_percent"}
    payday = LoanTerms(kind=LoanKind.PAYDAY, principal=D("-5"), tenure=4000, daily_percent=D("1.00001"))
    with pytest.raises(InvalidInput) as caught:
        build_schedule(payday, date(2024, 1, 1), SUNDAYS_OFF)
    assert {e.field for e in caught.value.errors} == {"principal", "tenure", "daily_percent"}


def test_schedules_and_calendars_round_trip_through_json_exactly() -> None:
    # Events will carry these values: amounts as strings ("9455.96"), dates as ISO dates.
    cal = RepaymentCalendar(holidays=frozenset({date(2024, 2, 29)}))
    s = emi_loan("100000.00", "24.50", 12, date(2024, 1, 31), cal)
    data = s.model_dump(mode="json")
    assert data["instalments"][0]["principal"] == str(s.instalments[0].principal)
    assert data["instalments"][0]["due_date"] == "2024-03-01"
    assert Schedule.model_validate(data) == s
    assert RepaymentCalendar.model_validate(cal.model_dump(mode="json")) == cal
