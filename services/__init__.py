"""The three services (preference, router, notifier) and what they share."""
