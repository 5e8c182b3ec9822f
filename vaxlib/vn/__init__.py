"""Vietnamese domain knowledge: names, encodings, ID numbers, dates, sex,
phone numbers and provinces.  Pure functions, vectorised where it matters."""
