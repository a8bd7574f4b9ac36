"""Telling firms' back offices what happened: signed webhook postings through an outbox."""
