"""Tests of the connector service: CloudEvents over HTTP, ATS webhooks, write-back."""
