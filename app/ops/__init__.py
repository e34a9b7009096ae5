"""What an operator runs: the flask commands, backup and restore, seed-scale, demo data and the
deploy check."""
