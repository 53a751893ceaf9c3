"""Cases (ケース): coordination, follow-up, suspect support and consultation."""
