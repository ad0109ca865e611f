package audit

// SpareReady reports whether l's spare file is written and synced. Call
// it only from the goroutine whose Write calls lead (a lone writer).
func SpareReady(l *Log) bool {
	return l.spare != nil && (l.spare.over || len(l.spare.done) == 1)
}

// SpareStarted reports whether l is making a spare file. The same
// caveat as SpareReady applies.
func SpareStarted(l *Log) bool { return l.spare != nil }
