"""Virtual passports: stamps collected automatically from the programme's events (processor.py)."""
