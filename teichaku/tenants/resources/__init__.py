"""社会資源: the center's directory of partner organisations (local resources)."""
