"""The five services of the suite."""
