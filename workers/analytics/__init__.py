"""How a call went: who talks when on each channel (``activity``) and the call metrics built
from it (``call_metrics``)."""
