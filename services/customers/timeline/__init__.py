"""The customers timeline (C10) and summary (C11)."""
