"""Records and plans on a case: face sheet / assessment, interview records, progress notes,
uploaded documents (files outside the database) and the 福祉サービス等調整計画 with revisions."""
