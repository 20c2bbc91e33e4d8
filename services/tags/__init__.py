"""Tags service: the tag catalogue: names, descriptions, colours, order, fixed tags, merge."""
