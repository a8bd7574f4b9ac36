"""Trust requests: a firm asks a client for money into a matter's trust account."""
