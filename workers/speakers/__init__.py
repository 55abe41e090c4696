"""Who spoke: speaker embeddings and diarization of one-channel calls and meetings."""
