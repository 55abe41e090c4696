"""Windows to words: the model loaded once per process (``engine``), batches fed from every
job in flight (``batching``), the decode with its checks (``decoding``), language, short
windows fused (``fusion``), skipped speech re-read (``recovery``), words to segments with
true times (``segments``) and line echo removed (``echo``)."""
