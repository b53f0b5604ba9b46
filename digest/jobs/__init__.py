"""The jobs the commands run: send, preview, archive, schedule, init (scaffold), opt-in, bounces,
profiles, summaries, doctor, status, the run history and its watch."""
