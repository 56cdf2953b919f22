"""Tools that write the bundled data and scenarios: the demo delivery network, random
and flash-sale orders, the in-process ledger demo. Not imported by the runtime."""
