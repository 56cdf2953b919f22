"""Helpers shared by the tests: cluster (the service layer driven synchronously, stock
reads and audits), http (end-to-end helpers), ledger (state comparison)."""
