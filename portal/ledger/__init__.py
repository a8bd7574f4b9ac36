"""Client money held in trust: the append-only per-matter trust ledger."""
