"""Custom fields (C13): definitions per customer kind, and the values customers carry."""
