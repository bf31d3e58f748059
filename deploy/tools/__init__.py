"""Deployment tools that run inside the service image (topic creation, health checks) or validate deploy/."""
