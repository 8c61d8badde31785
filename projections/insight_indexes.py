"""The indexes global search reads (projections/global_search.py) on other contexts' read tables, created with
those tables' DDL by the customers, loans and identity projections (a module of its own, importing nothing, so
that those import nothing of the search)."""

from __future__ import annotations

CUSTOMER_SEARCH_DDL = (
    "CREATE INDEX IF NOT EXISTS customers_brand_email_idx ON read.customers (brand_id, lower(email) text_pattern_ops) "
    "WHERE email IS NOT NULL",
)
LOAN_SEARCH_DDL = (
    "CREATE INDEX IF NOT EXISTS loans_number_prefix_idx ON read.loans (brand_id, loan_number text_pattern_ops)",
    "CREATE INDEX IF NOT EXISTS loans_number_suffix_idx ON read.loans (brand_id, reverse(loan_number) text_pattern_ops)",
)
STAFF_SEARCH_DDL = (
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    "CREATE INDEX IF NOT EXISTS staff_name_trgm_idx ON read.staff USING gin (brand_id, name_key gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS staff_email_trgm_idx ON read.staff USING gin (brand_id, lower(email) gin_trgm_ops)",
)
