"""The audit log: who changed which setting or moved which money, when, from what to what."""
