package api

// RouteOperations lists the operations the handler serves.
func RouteOperations() []string {
	var ops []string
	for target := range routes {
		ops = append(ops, target[len("TrentService."):])
	}
	return ops
}

// Mutating reports whether CloudTrail records op as not read-only.
func Mutating(op string) bool { return mutating[op] }

// HoldQuerySlots takes every slot of the TrentAdmin queries, as if that
// many were running, until release is called.
func (h *Handler) HoldQuerySlots() (release func()) {
	for range cap(h.queries) {
		h.queries <- struct{}{}
	}
	return func() {
		for range cap(h.queries) {
			<-h.queries
		}
	}
}
