"""Channel adapters: one small interface, one module per provider protocol."""
