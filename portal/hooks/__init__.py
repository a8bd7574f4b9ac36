"""Inbound processor events (POST /hooks/...): a face that only verifies and hands over."""
