"""The tenant: a law firm, its merchant accounts and its API keys."""
