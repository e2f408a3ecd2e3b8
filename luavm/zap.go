package luavm

import "go.uber.org/zap"

func zapString(k, v string) zap.Field  { return zap.String(k, v) }
func zapAny(k string, v any) zap.Field { return zap.Any(k, v) }
