"""make bench: reproducible figures on the real stack."""
