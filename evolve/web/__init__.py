"""`evolve-archive serve` and `evolve-archive report`: a read-only web view of run archives."""
