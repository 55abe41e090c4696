"""ffprobe and ffmpeg helpers shared by the scheduler (probing) and the workers
(decoding): reading a recording's headers, checking them against the audio that decodes,
and turning ffmpeg's complaints into one line."""
