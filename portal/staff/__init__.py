"""Staff accounts of a firm's console: invitations, passwords, authenticators, sessions.

`accounts` holds what an admin (or the CLI) does to users: invite, change role, deactivate,
reset the authenticator; `signin` what a person does to get in: accept an invitation, enrol
an authenticator, sign in, reset a forgotten password; `sessions` the server-side sessions the
console's cookie points at. `passwords` and `totp` are the two secrets' rules.
"""
