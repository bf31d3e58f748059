"""Router: decides channel, timing, language and fallback for every ATS event, in real time."""
