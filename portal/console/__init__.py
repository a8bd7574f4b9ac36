"""The firm's console under /console/: a face for the firm's own staff (it imports no other face).

`auth` holds the blueprint, the console's own session cookie and the guards every page uses
(`staff_required`, `admin_required`, `recent_auth_required`); `signin` the pages that get a
person in (invitation, authenticator, sign-in, reset, sign-out); `pages` the navigation and the
dashboard; the money pages: `payment_list`, `payment_page` and `unmatched`; `postings` and
`links` (with `link_forms`); and the admin's pages: `users`, `settings` (the firm's and each
merchant account's), `api_keys` and `audit` (the audit log and its CSV). `routes` gathers them
into the one blueprint `create_app` registers.
"""
