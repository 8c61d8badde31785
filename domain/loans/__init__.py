"""Loans: the pure arithmetic and states of ../shared/LENDING.md (pricing, schedules, overdue, payments, states).

No I/O and no aggregates here yet: values and pure functions that the loan aggregate, its projections and the COB
job build on. docs/lending.md says what each function computes and how LENDING.md's open points were decided.
"""
