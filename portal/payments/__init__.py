"""Taking money: payments, their charges per merchant account, allocations and history."""
