"""The daily hand-off's files and its ledger of what was handed off (docs/exports.md)."""
