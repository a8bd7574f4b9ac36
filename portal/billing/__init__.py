"""What the back office says is owed: clients, matters and invoices, and the client's pages."""
