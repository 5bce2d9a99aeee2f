"""Provisioning: a paid lease becomes a machine the tenant can log into, and stops being
one when its time is up (docs/architecture.md; README, "Provisioning").

``base.py`` is the drivers' interface and shared helpers; each driver is its own module,
found by name through ``cloudlease.config.registry.PROVISION_DRIVERS`` and imported only
when it is used (``base.make_driver``). ``[provision]`` settings live in
``cloudlease.config.provision``, so reading config.toml loads nothing from here.
"""
