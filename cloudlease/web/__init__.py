"""``cloudlease serve``: the tenant's face of the product, beside the operator's CLI.

A long-lived ASGI app (Starlette on uvicorn) over the same ``ops/`` layer as the CLI:
the storefront (``/``), the lease page and checkout (``/l/<token>``), the JSON API under
``/api/v1`` (described by ``/api/v1/openapi.json``) with live status as Server-Sent
Events, ``/healthz``, and the tick loop in a thread of its own. Like ``cli/``, it
imports only ``ops/``, ``core/``, ``model/`` and its own modules (import-linter holds
it), and nothing here is imported when the CLI starts.

- ``server``: start, listen, stop on SIGTERM (in-flight requests finish, the loop stops).
- ``app``: the routes and the runtime they share (a ledger context per worker thread).
- ``guard``: what faces the internet — client address, rate limit, body limit, security
  headers, redacted access log, errors as JSON.
- ``api`` and ``pages``: the JSON API and the HTML pages; ``openapi``: the API's
  description; ``hub``: live status; ``ticker``: the tick loop.
"""
