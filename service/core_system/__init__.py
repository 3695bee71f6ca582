"""Delivering approved visits to the council's core case system (LCS, Mosaic, Eclipse...).

``outbox`` writes a message in the transaction that approves a visit; ``worker`` delivers it
through an adapter (``adapters``: the local registry or the council's HTTP endpoint), shaped by
``payload`` and the council's ``mapping``; ``reconcile`` reads back what was delivered.
"""
