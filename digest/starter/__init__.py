"""What `digest init` writes into a new folder (digest/jobs/scaffold.py fills in the blanks)."""
