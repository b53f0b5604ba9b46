"""The issue, pure: which papers each reader gets and how they group (themes and field packs,
ranking, similarity, embeddings, a reader's library, engagement signals, quiet days)."""
