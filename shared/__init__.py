"""What every service of the suite uses: settings, database, events, auth, API base, logging."""
