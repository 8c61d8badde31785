"""Re-loan offers (issue #15 item 5)."""
