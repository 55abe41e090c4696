"""What a worker writes: every database write of a job (``store``), a recording's own writes
and reads (``recordings``), its exports (``exports``) and finishing it (``finalize``)."""
