"""What everything stands on: crypto, the database engine's settings, mail, passwords, paging,
the clock, links and the forms' shared pieces. Imports nothing from the features."""
