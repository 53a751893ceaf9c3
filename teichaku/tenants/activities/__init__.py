"""地域ネットワーク強化: a center's network activities (meetings, provider visits, trainings) and the
yearly figures the prefecture asks for in the add-on report (加算の実績報告)."""
