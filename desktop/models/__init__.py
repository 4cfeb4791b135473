"""Qt item models over plain data: no I/O, no widgets."""
