"""What comes back: delivery reports, complaints and mailed unsubscribes read from a mailbox, and
providers' webhooks."""
