"""sender-ledger: refuse backscatter at SMTP time by remembering what the domain sent.

The flow, one module (or package) a step::

    record  (ledger.record)   outbound milter: Message-ID + sender -> keyed hash
      -> ledger (ledger.store) Redis: day-sliced, bucketed hashes with an expiry
      <- check  (ledger.check) inbound milter: is it backscatter, what does it refer to
      -> decide (ledger.decide) accept / tag / reject 550 / tempfail 451
"""

__version__ = "0.1.0"
