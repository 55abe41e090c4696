"""Sound in: any ffmpeg-readable input decoded to 16 kHz channels (``decode``), and where
the speech is and how it is cut into windows of at most 30 s (``vad``)."""
