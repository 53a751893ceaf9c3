"""Review committee (検討委員会): outside experts who advise the center on its cases.

Members (psychiatrists, social workers, lawyers, probation and prison officers, prefectural
staff; some sit as observers), meetings with their attendees and minutes, and agenda items that
put a case of the center before a meeting.  A case may come back for a second and third review:
each agenda item's round is computed per case from the meeting dates, and every round keeps the
advice given (助言) and what the center did with it (対応).  The handout for a meeting shows the
cases pseudonymized (initials, age band), so the paper may leave the office.
"""
