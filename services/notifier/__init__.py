"""Notifier: delivers on every channel through real provider protocols, idempotently, and keeps the timeline."""
