"""Verification: sandboxed Python execution, answer equivalence, SMT helpers."""
