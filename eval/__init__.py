"""Quality evaluations run by `make eval` (offline, on recorded labelled data)."""
