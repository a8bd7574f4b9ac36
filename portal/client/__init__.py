"""The client's pages, reached through a signed link: a face (it imports no other face).

`session` opens a link and guards every page (`link_required`), and answers "is this link
genuine?" and "email me a fresh link"; `matters` shows the matters, invoices and trust
balances; `pay` is the pay flow (basket → review → confirm → receipt), with `checkout` and
`review` reading what the payer typed. Blueprint and endpoint names are those the templates use
(`links.*`, `billing.*`, `payments.*`).
"""
