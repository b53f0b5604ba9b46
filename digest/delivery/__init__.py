"""Delivery: composed messages out to SMTP, a folder, the terminal, a mail provider's API or a chat
channel; the concurrent pool; the sender domain's DNS."""
