"""Saved payers of a client, their methods (processor tokens only) and the consent to keep them."""
