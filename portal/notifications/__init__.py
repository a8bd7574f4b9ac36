"""Staff notifications: which events each staff user wants an email about, and the emails.

`choices` keeps each user's choices (one row per user and kind; no row means the default for
their role) and saves them (audited, commits). `sending.notify` is what a feature calls, in
its own transaction, when something happened that staff may want to hear about: it queues one
email per opted-in, active user of the firm through the mail outbox, once per event key.
`listeners` reacts to what the adapters beside staff announce (postings' endpoint disabled).
"""
