"""The ``bids`` layout: anyone's own raw recordings as a BIDS dataset (EEG-BIDS, physio, beh).

:class:`~helo.data.bids.reader.BidsReader` (its docstring is the layout's specification) reads
the signals; :mod:`helo.data.bids.events` decides which events are trials (``data.events``),
:mod:`helo.data.bids.reports` reads the self-reports they are labelled with.
"""
from helo.data.bids.events import EventRules
from helo.data.bids.reader import PHYSIO_COLUMNS, BidsReader, safe_label

__all__ = ["BidsReader", "EventRules", "PHYSIO_COLUMNS", "safe_label"]
