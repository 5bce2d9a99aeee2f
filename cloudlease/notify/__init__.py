"""Telling the operator's programs what happened: hooks (a command per event, the event as
JSON on stdin, a clean environment) and webhooks (a signed HTTPS POST per event). Events
are queued in the ledger with the change that caused them; ``ops/deliver.py`` hands them
here outside the ledger lock."""
