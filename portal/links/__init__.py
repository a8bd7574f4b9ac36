"""Signed client links of at most 24 hours, and the session they open."""
