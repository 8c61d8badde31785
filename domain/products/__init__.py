"""Loan products: versioned pricing, ranges, penal terms and BRE rules per brand, and coupons on their fees."""
