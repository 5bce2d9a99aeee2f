"""The pure rules of cloudlease: functions from records and values to records and values.

Nothing here does I/O, reads the clock (``now`` is an argument; ``clock.py`` is the clock
itself, which only the layers above call), or imports an adapter, the configuration or
the faces: import-linter holds that (``pyproject.toml``, docs/architecture.md). A rule
here can be tested with plain values and property tests.

- ``money``: integer sats, ``Decimal`` fiat, largest-remainder splits.
- ``validate``, ``machine_inputs``: checks on what people type (names, hours, SSH keys,
  plan limits).
- ``periods``, ``clock``: time zones, periods, parsing times; the one source of "now".
- ``errors``: the domain errors, each with its exit code.
- ``lifecycle``, ``lnsettle``: payment requests and leases, on-chain and over Lightning
  (``is_late`` is the one rule for late); ``observations``: which look at the chain counts
  and how many confirmations an output needs.
- ``risk``, ``poolpolicy``: funding, runway, stakes, shares, payouts; the pool monitor.
- ``machines``: what a lease's machine should be.
- ``tax``, ``invoices``, ``numbering``, ``documents``, ``books``, ``journals``, ``exports``:
  invoices (their numbers and integrity) and the books.
- ``bip21``, ``views``: payment URIs, and records as the JSON shapes both faces show.
"""
