"""Automations, the job queue and webhooks (see the automation issue)."""
