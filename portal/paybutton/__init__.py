"""The pay button for firm websites and the public pay page it opens (/pay/<firm-slug>)."""
