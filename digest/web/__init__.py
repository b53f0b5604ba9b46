"""`digest serve`: the web app (app), each reader's Atom feed, and /metrics."""
