"""vaxlib: a workbench for cleaning Viet Nam's COVID-19 vaccination records.

The library separates normalise (``vaxlib.vn``) -> import (``vaxlib.io``) ->
match (``vaxlib.match``) -> review (``vaxlib.review``) -> sign
(``vaxlib.sign``) -> report (``vaxlib.report``).  Everything speaks the data
contract in ``shared/spec/data-contract.md``.
"""

__version__ = "0.1.0"
