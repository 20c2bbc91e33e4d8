"""Registration service: sign-up, email validation, approval, login, devices and credentials."""
