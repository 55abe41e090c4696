"""What a worker process holds while it runs jobs: its context and the lease heartbeat
(``context``), the device and its price (``device``), running a suspect job alone
(``isolation``) and its view of an outage (``outage``)."""
