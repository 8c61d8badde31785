"""Leads and attribution: lead CSV imports, dedupe, the lead funnel, the rating matrix."""
