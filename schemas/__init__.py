"""The contract between the ATS, the three services and their readers: pydantic v2 models per topic."""
