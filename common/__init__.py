"""Contracts both tiers share: problems, the task protocol, environment readers, broker options.

Standard library only. The web tier (`podium`), the compute tier (`workers`), `datasets`
and `podium_client` import it; it imports none of them (pyproject's import contracts).
"""
