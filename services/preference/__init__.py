"""Preference service: captures candidates' choices and consent, publishes every change as a snapshot."""
