"""The pure billing core: money, pricing and the other rules an invoice is computed from.

Everything under ``billfold.core`` imports only the standard library and other ``billfold.core``
modules. It does no I/O, reads no clock (time is always an argument) and never uses ``float``, so
that a preview and a bill run given the same facts produce the same invoice, to the minor unit.
"""
