"""事例の共有 (case-study exchange): anonymised good-practice write-ups shared between the 48 centers."""
