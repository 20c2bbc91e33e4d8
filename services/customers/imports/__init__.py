"""CSV import of customers (C9): parse, validate as `POST /customers` does, run as a job."""
