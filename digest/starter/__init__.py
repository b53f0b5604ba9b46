"""What `digest init` writes into a new folder (digest/scaffold.py fills in the blanks)."""
