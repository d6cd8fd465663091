package engine

// warnInventory reports what loading the inventory found odd but not
// wrong (group_vars/ for a group it does not have), once per run.
func (e *Engine) warnInventory() {
	for _, w := range e.inventory().Warnings() {
		e.emit(Event{Type: Warning, Pos: w.Pos.String(), Message: w.Msg})
	}
}
