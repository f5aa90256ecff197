"""The core benchmark (`make bench`, `python -m bench`): our server against PostGraphile v5 and v4 and the
raw-SQL and COPY floors on one seeded database; writes its section of bench/RESULTS.md."""
