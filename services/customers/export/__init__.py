"""CSV export of customers (C9): the list's selection, streamed row by row."""
