"""What customers ask and how they feel: per-call insights and topics across the archive."""
