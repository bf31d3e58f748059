"""The connector service: ATS webhooks and CloudEvents over HTTP in, notes back to the ATS."""
