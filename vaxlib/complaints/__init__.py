"""Citizens' complaints (phản ánh): understanding the message and generating realistic ones.

:mod:`vaxlib.complaints.understand` reads a Vietnamese message into claims
(which dose, field, vaccine, date, person) for :mod:`vaxlib.feedback`;
:mod:`vaxlib.complaints.generate` writes synthetic complaints of seventeen
kinds, with their truth, for ``vax synth`` and ``bench/feedback_accuracy.py``.
"""
